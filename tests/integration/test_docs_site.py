"""The docs site (mkdocs.yml, docs/): it builds strict, and its pages cover the code they describe.

Every route of the app has a curl example in the HTTP API guide, every settings field and every problem
code is on its generated page, and every bundle example of docs/bundles.md validates with the
service's validator (the offline ones also run, and give the output the page shows).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from fastapi.routing import APIRoute
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page
from starlette.routing import BaseRoute, Route

from api.main import create_app
from api.settings import ApiSettings
from docs.gen import hooks
from docs.gen.setting_notes import NOTES
from docs.gen.settings_reference import settings_rows
from shared.language.model_deck import builtin_deck, service_deck
from shared.language.pipe_blueprints import PIPE_CLASSES
from shared.language.report import BundleSource
from shared.language.validator import validate_sources
from shared.problems.catalogue import CATALOGUE
from shared.runtime.function_registry import DEFAULT_REGISTRY
from shared.runtime.run_pipeline import RunRequest
from worker.in_process import run_sources
from worker.settings import WorkerSettings

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
MKDOCS = Path(sys.executable).parent / "mkdocs"
# Material prints a notice about MkDocs 2.0 on every build; it says nothing about this site.
BUILD_ENV = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}

# A fenced block with a title: ```toml title="name.mthds"
TITLED_BLOCK = re.compile(r'^```\w+ title="(?P<title>[^"]+)"\n(?P<body>.*?)\n```$', re.MULTILINE | re.DOTALL)
HEADING = re.compile(r"^#{2,4} (?P<text>.+)$", re.MULTILINE)
HEADING_ROUTE = re.compile(r"`(?P<method>GET|POST|PUT|DELETE|PATCH) (?P<path>/[^`]*)`")
CURL = re.compile(r"curl [^\n]*(?:\\\n[^\n]*)*")
CURL_URL = re.compile(r"""\$API(?P<path>/[^\s'"?]*)""")
CURL_METHOD = re.compile(r"-X (?P<method>[A-Z]+)")


def _build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MKDOCS), "build", "--strict", "-f", str(config), "-d", str(site)],
        cwd=REPO,
        env=BUILD_ENV,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site built once, strict, as `make docs` builds it."""
    target = tmp_path_factory.mktemp("site")
    built = _build(REPO / "mkdocs.yml", target)
    assert built.returncode == 0, built.stderr
    return target


def _page_text(site: Path, page: str) -> str:
    return (site / page / "index.html").read_text(encoding="utf-8")


# --- the build ---------------------------------------------------------------------------------


def test_the_site_builds_strict_with_its_generated_pages(site: Path) -> None:
    for page in ("quickstart", "architecture", "http-api", "bundles", "configuration", "operations"):
        assert (site / page / "index.html").is_file(), page
    assert "Read by both the API and the workers" in _page_text(site, "configuration")
    assert 'class="mermaid"' in _page_text(site, "architecture")
    # deploy/README.md is included, not copied: the recipe page holds its text.
    assert "Local cluster (Docker Compose)" in _page_text(site, "deployment")


def test_a_broken_link_fails_the_build(tmp_path: Path) -> None:
    shutil.copytree(DOCS, tmp_path / "docs", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "mkdocs.yml", tmp_path / "mkdocs.yml")
    index = tmp_path / "docs" / "index.md"
    index.write_text(index.read_text(encoding="utf-8") + "\n[gone](no-such-page.md)\n", encoding="utf-8")
    built = _build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert built.returncode != 0
    assert "no-such-page.md" in built.stderr


def test_the_api_guide_links_the_committed_openapi_document_only_when_there_is_one(tmp_path: Path) -> None:
    guide = (DOCS / "http-api.md").read_text(encoding="utf-8")
    config = cast(MkDocsConfig, SimpleNamespace(docs_dir=str(tmp_path)))
    page, files = cast(Page, None), cast(Files, None)
    without = hooks.on_page_markdown(guide, page=page, config=config, files=files)
    assert hooks.OPENAPI_MARKER in guide
    assert hooks.OPENAPI_MARKER not in without
    assert "](openapi.json)" not in without
    (tmp_path / "openapi.json").write_text("{}", encoding="utf-8")
    linked = hooks.on_page_markdown(guide, page=page, config=config, files=files)
    assert "[openapi.json](openapi.json)" in linked


# --- the HTTP API guide ------------------------------------------------------------------------


def _routes(routes: list[BaseRoute]) -> Iterator[tuple[str, str]]:
    """(method, path) of every route the app answers, included routers opened (static mounts left out)."""
    for route in routes:
        inner: Any = getattr(route, "original_router", None)
        if inner is not None:
            yield from _routes(inner.routes)
        elif isinstance(route, APIRoute | Route):
            for method in sorted((route.methods or set()) - {"HEAD"}):
                yield method, route.path


def _curl_calls(section: str) -> list[tuple[str, str]]:
    """(method, path) of each `curl ... $API/...` command of a section; GET unless `-X` says otherwise."""
    calls: list[tuple[str, str]] = []
    for command in CURL.findall(section):
        url = CURL_URL.search(command)
        if url is None:
            continue
        method = CURL_METHOD.search(command)
        calls.append((method.group("method") if method else "GET", url.group("path")))
    return calls


def routes_without_example(guide: str, routes: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The routes no heading of `guide` names with a curl call below it that matches the route."""
    headings = list(HEADING.finditer(guide))
    examples: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for position, heading in enumerate(headings):
        end = headings[position + 1].start() if position + 1 < len(headings) else len(guide)
        calls = _curl_calls(guide[heading.end() : end])
        for named in HEADING_ROUTE.finditer(heading.group("text")):
            examples[named.group("method"), named.group("path")] = calls
    missing: list[tuple[str, str]] = []
    for method, path in routes:
        pattern = re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$")
        calls = examples.get((method, path), [])
        if not any(call_method == method and pattern.match(call_path) for call_method, call_path in calls):
            missing.append((method, path))
    return missing


def test_every_route_of_the_app_has_a_curl_example_in_the_api_guide(tmp_path: Path) -> None:
    app = create_app(ApiSettings(data_dir=tmp_path))
    routes = sorted(set(_routes(app.routes)))
    assert ("POST", "/v1/start") in routes  # the walk reaches the included routers
    guide = (DOCS / "http-api.md").read_text(encoding="utf-8")
    assert routes_without_example(guide, routes) == []


def test_the_route_check_finds_a_route_without_example() -> None:
    guide = "## `GET /v1/runs/{run_id}/status`\n\n```bash\ncurl -s $API/v1/runs/r1/status\n```\n"
    routes = [("GET", "/v1/runs/{run_id}/status"), ("POST", "/v1/runs/{run_id}/cancel")]
    assert routes_without_example(guide, routes) == [("POST", "/v1/runs/{run_id}/cancel")]
    wrong_method = guide.replace("curl -s", "curl -s -X POST")
    assert routes_without_example(wrong_method, routes[:1]) == [("GET", "/v1/runs/{run_id}/status")]


# --- the generated pages -----------------------------------------------------------------------


def test_every_settings_field_is_in_the_configuration_page_with_its_default(site: Path) -> None:
    page = _page_text(site, "configuration")
    for cls in (ApiSettings, WorkerSettings):
        for row in settings_rows(cls):
            assert row.description, (
                f"{row.name}: no comment in the code and no note in docs/gen/setting_notes.py"
            )
            for variable in row.variables:
                assert f"<code>{variable}</code>" in page, variable
    assert "<code>1140</code>" in page  # EXECUTE_WAIT_SECONDS's default, read from the class


def test_every_setting_note_names_a_real_field() -> None:
    fields = set(ApiSettings.model_fields) | set(WorkerSettings.model_fields)
    assert set(NOTES) - fields == set()


def test_every_problem_code_is_in_the_troubleshooting_page(site: Path) -> None:
    page = _page_text(site, "troubleshooting")
    text = html.unescape(page)  # the catalogue's prose as a reader sees it: `__class__`, `<key>` verbatim
    for code, spec in CATALOGUE.items():
        assert f"<code>{code.value}</code>" in page, code.value
        assert spec.title in text, code.value
        assert spec.next_step_detail in text, code.value


# --- the bundle examples -----------------------------------------------------------------------

BUNDLE_PAGE = (DOCS / "bundles.md").read_text(encoding="utf-8")
BLOCKS = {match.group("title"): match.group("body") for match in TITLED_BLOCK.finditer(BUNDLE_PAGE)}
BUNDLES = sorted(title for title in BLOCKS if title.endswith(".mthds"))
FUNCTIONS_MODULE = "docs_examples.py"
# A pipe naming the deck example's own model, which only that deck has.
ASK_WRITER = """domain = "ask"
main_pipe = "ask"

[pipe.ask]
type = "PipeLLM"
description = "Asks the deck's writer"
inputs = { question = "Text" }
output = "Text"
model = "writer"
prompt = "{{ question }}"
"""


def _register_example_functions() -> None:
    """Run the page's PipeFunc module once, as `FUNCTION_MODULES=docs_examples` would import it."""
    if "docs_examples.word_count" not in DEFAULT_REGISTRY.names():
        exec(compile(BLOCKS[FUNCTIONS_MODULE], FUNCTIONS_MODULE, "exec"), {})  # noqa: S102 -- the page's own example


def test_the_model_deck_example_is_a_usable_deck() -> None:
    page = (DOCS / "models.md").read_text(encoding="utf-8")
    deck_text = next(
        match.group("body") for match in TITLED_BLOCK.finditer(page) if match.group("title") == "deck.toml"
    )
    deck = service_deck(deck_text)  # raises DeckError naming the fault, as MODEL_DECK does at start-up
    source = BundleSource(path="ask.mthds", text=ASK_WRITER)
    assert validate_sources([source], deck).is_valid


def test_every_pipe_type_has_an_example() -> None:
    types = {
        pipe["type"] for title in BUNDLES for pipe in tomllib.loads(BLOCKS[title]).get("pipe", {}).values()
    }
    assert set(PIPE_CLASSES) - types == set()


@pytest.mark.parametrize("title", BUNDLES)
async def test_the_bundle_example_validates_and_runs(title: str, tmp_path: Path) -> None:
    _register_example_functions()
    source = BundleSource(path=title, text=BLOCKS[title])
    report = validate_sources([source], builtin_deck())
    assert report.is_valid, [issue.message for issue in report.issues]
    assert report.warnings == ()
    stem = title.removesuffix(".mthds")
    inputs = BLOCKS.get(f"{stem}.inputs.json")
    if inputs is None:  # a model-backed example: the validation's dry run ran it with mocked models
        return
    outcome = await run_sources([source], RunRequest("", json.loads(inputs)), storage_root=tmp_path)
    shown = BLOCKS.get(f"{stem}.output.json")
    if shown is not None:
        assert outcome.main_json() == json.loads(shown)
    else:
        assert outcome.main_json() is not None
