"""Oversized and deeply nested JSON bodies and TOML bundles, on every route that reads a body, over real
HTTP against real Temporal: typed refusals (request.too_large, request.malformed, a syntax verdict or
method.invalid), never a RecursionError 500, never a hang.

The JSON routes are read from the app's route table, so a route added later is covered too.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from api.main import create_app
from api.settings import ApiSettings
from tests.helpers.api_server import assert_problem
from tests.helpers.run_stack import RunStack, run_stack

DEPTH = 100_000
# `PUT /v1/blobs/{sha256}` takes raw bytes (signed target first), not JSON.
RAW_BODY_ROUTES = frozenset({("PUT", "/v1/blobs/{sha256}")})
PATH_VALUES = {"run_id": "run-nesting-1", "delivery_id": "delivery-1"}
RUN_ROUTES = ("/v1/start", "/v1/execute", "/api/v1/pipeline/start", "/api/v1/pipeline/execute")
GREET = """domain = "greetings"
main_pipe = "greet"

[pipe.greet]
type = "PipeCompose"
description = "Greets someone"
inputs = { name = "Text" }
output = "Text"
template = "Hello, $name!"
"""
# Each adds one top-level key nesting `DEPTH` levels, in the ways TOML can nest.
DEEP_TOML = {
    "inline-tables": "deep = " + "{ a = " * DEPTH + "1" + " }" * DEPTH,
    "arrays": "deep = " + "[" * DEPTH + "]" * DEPTH,
    "dotted-key": "deep." * DEPTH + "leaf = 1",
    "dotted-header": "[" + "deep." * DEPTH + "leaf]\nx = 1",
    "dotted-key-in-inline-table": "deep = { " + "a." * DEPTH + "leaf = 1 }",
}


def json_body_routes() -> list[tuple[str, str]]:
    """`(method, path)` of every route that reads a request body, from the app's route table."""
    app = create_app(ApiSettings())
    documented: dict[str, dict[str, dict[str, Any]]] = app.openapi()["paths"]
    routes: list[tuple[str, str]] = []
    for context in iter_route_contexts(app.routes):
        if not isinstance(context.original_route, APIRoute):
            continue
        for method in sorted(context.methods or ()):
            template = context.path or ""
            operation = documented.get(template, {}).get(method.lower(), {})
            # A route without a documented body (a cancel, a redelivery) never reads one.
            if "requestBody" in operation and (method, template) not in RAW_BODY_ROUTES:
                path = template
                for name, value in PATH_VALUES.items():
                    path = path.replace("{" + name + "}", value)
                assert "{" not in path, f"{context.path}: give its path parameter a value in PATH_VALUES"
                routes.append((method, path))
    return routes


@pytest.fixture
async def stack(temporal_address: str, tmp_path: Path) -> AsyncGenerator[RunStack]:
    # No worker: nothing here may start a run, and a request that did would never finish.
    overrides = {"max_request_body_mib": 1}
    async with run_stack(temporal_address, tmp_path, worker=False, api_overrides=overrides) as running:
        yield running


@pytest.mark.timeout(60)
async def test_json_nested_deeper_than_read_is_malformed_on_every_body_route(stack: RunStack) -> None:
    routes = json_body_routes()
    assert ("POST", "/v1/start") in routes
    arrays = b"[" * DEPTH + b"]" * DEPTH
    objects = b'{"a":' * DEPTH + b"1" + b"}" * DEPTH
    in_inputs = (
        b'{"mthds_contents": [' + json.dumps(GREET).encode() + b'], "inputs": {"name": ' + objects + b"}}"
    )
    for method, path in routes:
        for body in (arrays, in_inputs):
            response = await stack.client.request(
                method, path, content=body, headers={"content-type": "application/json"}
            )
            document = assert_problem(response, 422, "request.malformed")
            assert document["params"] == {"reason": "too_deep"}, (method, path)


@pytest.mark.timeout(60)
async def test_a_body_over_the_limit_is_too_large_on_every_body_route(stack: RunStack) -> None:
    oversized = b'{"mthds_contents": ["' + b"x" * (1024 * 1024 + 1) + b'"]}'
    for method, path in json_body_routes():
        response = await stack.client.request(
            method, path, content=oversized, headers={"content-type": "application/json"}
        )
        assert_problem(response, 413, "request.too_large")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("shape", list(DEEP_TOML))
async def test_a_deeply_nested_bundle_is_refused_quickly_everywhere(stack: RunStack, shape: str) -> None:
    text = GREET + "\n" + DEEP_TOML[shape] + "\n"
    assert len(text.encode()) < 1024 * 1024, "within the per-bundle limit: refused for its shape, not size"
    verdict = await stack.client.post("/v1/validate", json={"mthds_contents": [text]})
    assert verdict.status_code == 200, verdict.text
    [error] = verdict.json()["errors"]
    assert error["code"] == "method.syntax"
    assert "too deeply" in error["detail"]
    for route in RUN_ROUTES:
        body = {"mthds_contents": [text], "inputs": {"name": "Ada"}}
        refused = assert_problem(await stack.client.post(route, json=body), 422, "method.invalid")
        assert refused["errors"][0]["code"] == "method.syntax", route
    lint = await stack.client.post("/v1/lint", json={"content": text})
    assert lint.status_code == 200, lint.text
    assert [item["kind"] for item in lint.json()["diagnostics"]] == ["syntax"]
    formatted = await stack.client.post("/v1/format", json={"content": text})
    assert formatted.status_code == 200, formatted.text
    assert formatted.json()["changed"] is False
    assert [item["kind"] for item in formatted.json()["diagnostics"]] == ["syntax"]


async def test_dots_and_brackets_inside_strings_and_comments_do_not_count(stack: RunStack) -> None:
    # Long prose and bracketed text in strings and comments are not nesting: the bundle stays valid.
    prose = "First. Second. " * 5000 + "[" * 500 + "{" * 500
    basic = GREET.replace('"Greets someone"', json.dumps(prose + '"]')) + "# a comment. [{" * 300 + "\n"
    literal = GREET.replace('"Greets someone"', "'''" + prose + "'''")
    # `\"""` escapes its first quote: the string goes on, and so must the measure.
    multiline = GREET.replace('"Greets someone"', '"""' + prose + ' \\""" ' + prose + '"""')
    for bundle in (basic, literal, multiline):
        verdict = await stack.client.post("/v1/validate", json={"mthds_contents": [bundle]})
        assert verdict.json()["is_valid"] is True, verdict.text[:500]
