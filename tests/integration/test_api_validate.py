"""`POST /v1/validate` and its legacy aliases give a 200 verdict for valid and invalid methods (http-api.md §8.1, §12).

These tests run the real validator of `shared.language`.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from api.settings import ApiSettings
from tests.helpers.api_server import CODE_PATTERN, asgi_client

GREET = """domain = "greetings"
main_pipe = "greet"
[pipe.greet]
type = "PipeCompose"
description = "Greets someone"
inputs = { name = "Text" }
output = "Text"
template = "Hello, $name!"
"""

BROKEN_TOML = 'domain = "greetings"\nmain_pipe = "greet"\n[pipe.greet\ntype = "PipeCompose"\n'

VALID_ARM = {
    "is_valid", "warnings", "bundle_blueprint", "pipe_io_contracts", "graph_spec", "validated_pipes",
    "pending_signatures", "is_runnable", "default_pipe_ref", "mthds_contents", "message",
}  # fmt: skip
INVALID_ARM = {"is_valid", "errors", "warnings", "pending_signatures", "is_runnable", "message"}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client() as client:
        yield client


async def _verdict(
    client: httpx.AsyncClient, body: dict[str, Any], path: str = "/v1/validate"
) -> dict[str, Any]:
    response = await client.post(path, json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    verdict: dict[str, Any] = response.json()
    return verdict


def _assert_items(items: list[dict[str, Any]]) -> None:
    for item in items:
        assert CODE_PATTERN.match(item["code"])
        assert isinstance(item["detail"], str)
        assert all(value is not None for value in item.values()), "absent members are omitted, never null"


async def test_valid_bundle_gives_the_valid_arm(client: httpx.AsyncClient) -> None:
    verdict = await _verdict(client, {"mthds_contents": [GREET]})
    assert set(verdict) == VALID_ARM
    assert verdict["is_valid"] is True
    assert verdict["is_runnable"] is True
    assert verdict["graph_spec"] is None
    assert isinstance(verdict["pipe_io_contracts"], dict)
    assert verdict["mthds_contents"] == [GREET]
    assert verdict["message"] == "MTHDS content validated successfully"
    assert verdict["default_pipe_ref"] == "greetings.greet"
    assert {"pipe_ref": "greetings.greet", "status": "SUCCESS"} in verdict["validated_pipes"]
    assert verdict["bundle_blueprint"]["domain"] == "greetings"


async def test_toml_syntax_error_gives_one_located_syntax_item(client: httpx.AsyncClient) -> None:
    verdict = await _verdict(client, {"mthds_contents": [BROKEN_TOML]})
    assert set(verdict) == INVALID_ARM
    assert verdict["is_valid"] is False
    assert verdict["is_runnable"] is False
    assert isinstance(verdict["message"], str)
    [item] = verdict["errors"]
    assert item["code"] == "method.syntax"
    assert isinstance(item["location"]["line"], int)
    assert item["location"]["line"] >= 1
    assert isinstance(item["location"]["column"], int)
    assert item["location"]["column"] >= 1
    _assert_items(verdict["errors"])


async def test_markdown_and_views_are_added_only_when_asked(client: httpx.AsyncClient) -> None:
    asked = {
        "mthds_contents": [GREET],
        "render": ["markdown", "html"],
        "views": ["input_form", "output_form", "x"],
    }
    verdict = await _verdict(client, asked)
    assert set(verdict) == VALID_ARM | {"rendered_markdown", "input_form", "output_form"}
    assert verdict["rendered_markdown"].startswith("## Valid")
    # The forms of every pipe, as /v1/pipe-io describes them.
    described = await client.post("/v1/pipe-io", json={"mthds_contents": [GREET], "all_pipes": True})
    assert verdict["input_form"] == described.json()["input_form"]
    assert verdict["output_form"] == described.json()["output_form"]
    assert set(verdict["input_form"]) == set(verdict["pipe_io_contracts"])
    invalid = await _verdict(
        client, {"mthds_contents": [BROKEN_TOML], "render": ["markdown"], "views": ["input_form"]}
    )
    assert set(invalid) == INVALID_ARM | {"rendered_markdown"}
    assert invalid["rendered_markdown"].startswith("## Invalid")


async def test_every_source_form_is_read(client: httpx.AsyncClient) -> None:
    encoded = base64.b64encode(GREET.encode()).decode()
    bodies: list[dict[str, Any]] = [
        {"mthds_content": GREET},
        {"plx_content": GREET},
        {"mthds_contents": [GREET], "mthds_sources": ["greetings/main.mthds"]},
        {"files": {"main.mthds": GREET, "README.md": "# ignored", "tool.py": "print()"}},
        {"files": {"main.mthds": {"base64": encoded}}},
        {"files": [{"content": GREET, "source": "greet.plx"}]},
        # Clients merge extra keys at the top level; unknown keys and pipe_code are ignored.
        {"mthds_contents": [GREET], "pipe_code": 12, "whatever": {"x": 1}, "allow_signatures": True},
    ]
    for body in bodies:
        verdict = await _verdict(client, body)
        assert verdict["is_valid"] is True, body
        assert verdict["mthds_contents"] == [GREET]


async def test_file_paths_locate_faults(client: httpx.AsyncClient) -> None:
    verdict = await _verdict(client, {"files": {"lib/broken.mthds": BROKEN_TOML}})
    assert verdict["errors"][0]["location"]["file"] == "lib/broken.mthds"


@pytest.mark.parametrize("path", ["/api/v1/pipeline/validate", "/api/v1/validate"])
async def test_legacy_aliases_add_the_old_members(client: httpx.AsyncClient, path: str) -> None:
    valid = await _verdict(client, {"plx_content": GREET}, path)
    assert valid["success"] is True
    assert valid["plx_content"] == GREET
    assert valid["pipelex_bundle_blueprint"] == valid["bundle_blueprint"]
    invalid = await _verdict(client, {"plx_content": BROKEN_TOML}, path)
    assert invalid["success"] is False
    assert invalid["plx_content"] == BROKEN_TOML
    assert "pipelex_bundle_blueprint" not in invalid


async def test_trees_at_the_limits_are_read() -> None:
    settings = ApiSettings(max_mthds_file_kib=1, max_bundle_files=3, max_bundle_total_kib=2)
    exactly_one_kib = base64.b64encode(bytes(1024)).decode()
    body = {"files": {"main.mthds": GREET, "data.bin": {"base64": exactly_one_kib}, "notes.txt": "n"}}
    async with asgi_client(settings) as client:
        verdict = await _verdict(client, body)
    assert verdict["is_valid"] is True


DRY_RUN_FAULTS = """domain = "lanes"
[pipe.route]
type = "PipeCondition"
description = "Renders nothing, so no lane can be chosen"
inputs = { parcel = "Text" }
output = "Text"
expression = "''"
outcomes = { express = "note" }
default_outcome = "note"

[pipe.note]
type = "PipeLLM"
description = "Notes the parcel"
inputs = { parcel = "Text" }
output = "Text"
prompt = "Note $parcel"

[pipe.print]
type = "PipeDocGen"
description = "Prints a field the text does not have"
inputs = { parcel = "Text" }
output = "Document"
format = "pdf"
template = "<p>{{ parcel.weight.kilograms }}</p>"
"""


async def test_the_dry_run_of_every_pipe_reports_its_failures_in_errors(client: httpx.AsyncClient) -> None:
    verdict = await _verdict(client, {"mthds_contents": [DRY_RUN_FAULTS]})
    assert verdict["is_valid"] is False
    _assert_items(verdict["errors"])
    found = [(item["location"]["pipe"], item["code"], item["error_type"]) for item in verdict["errors"]]
    assert found == [
        ("route", "pipe.condition_unmatched", "DryRunError"),
        ("print", "pipe.template_render_failed", "DryRunError"),
    ]
