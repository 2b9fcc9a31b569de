"""MkDocs hooks (mkdocs.yml `hooks:`): add the pages written from the code, link the committed OpenAPI.

The generated pages exist only in the build (`File.generated`), never as files under docs/, so they
cannot drift from the settings classes and the problem catalogue.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

from docs.gen import problem_reference, settings_reference

# The API guide names this marker; it becomes a link when docs/openapi.json is committed.
OPENAPI_MARKER = "<!-- committed-openapi -->"
OPENAPI_FILE = "openapi.json"
# Written by `make bench`: listed in the navigation once it exists.
BENCHMARKS_PAGE = "benchmarks.md"


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    nav = cast("list[object] | None", config["nav"])
    if Path(config.docs_dir, BENCHMARKS_PAGE).is_file() and nav is not None:
        nav.append({"Benchmarks": BENCHMARKS_PAGE})
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    files.append(File.generated(config, settings_reference.PAGE, content=settings_reference.settings_page()))
    files.append(
        File.generated(config, problem_reference.PAGE, content=problem_reference.troubleshooting_page())
    )
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """The line holding the marker names docs/openapi.json when it is committed, else it goes."""
    del page, files
    if OPENAPI_MARKER not in markdown:
        return markdown
    committed = Path(config.docs_dir, OPENAPI_FILE).is_file()
    sentence = (
        f"The document as committed in the repository, pinned by a test: [openapi.json]({OPENAPI_FILE})."
    )
    lines = [
        line.replace(OPENAPI_MARKER, sentence)
        for line in markdown.splitlines()
        if committed or OPENAPI_MARKER not in line
    ]
    return "\n".join(lines) + "\n"
