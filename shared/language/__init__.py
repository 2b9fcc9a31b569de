"""The MTHDS language: parsing, library assembly, validation, templates. Pure."""
