"""Generators of the docs pages written from the code at build time (mkdocs.yml `hooks:`)."""
