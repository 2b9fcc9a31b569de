"""`POST /v1/lint` and `POST /v1/format` through the real app: answers in the reference's shapes, refusals typed.

Every text is a 200 (broken TOML included, its faults being diagnostics); a request that does not fit
the route's schema is a 422 problem naming the field (docs/design/tooling-routes.md §5).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from api.settings import ApiSettings, AuthMode
from tests.helpers.api_server import asgi_client, assert_problem

HELLO = (Path(__file__).resolve().parents[2] / "docs" / "examples" / "hello.mthds").read_text()
BROKEN = 'domain = "café"\n[pipe.a\ntype = "PipeLLM"\n'
BROKEN_DIAGNOSTIC = {
    "kind": "syntax",
    "severity": "error",
    "message": "Expected ']' at the end of a table declaration",
    "location": None,
    "range": {
        "start_offset": 24,
        "end_offset": 25,
        "start_line": 2,
        "start_col": 8,
        "end_line": 3,
        "end_col": 1,
    },
}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client() as client:
        yield client


async def _answer(client: httpx.AsyncClient, path: str, body: object) -> dict[str, Any]:
    response = await client.post(path, json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    answer: dict[str, Any] = response.json()
    return answer


# --- format ------------------------------------------------------------------------------------------


async def test_format_lays_the_text_out(client: httpx.AsyncClient) -> None:
    text = '# top comment\ndomain="x"   # trailing\ndescription = "d"\n[concept.A]\ndescription="a"\n'
    assert await _answer(client, "/v1/format", {"content": text}) == {
        "formatted": '# top comment\ndomain      = "x" # trailing\ndescription = "d"\n[concept.A]\ndescription = "a"\n',
        "changed": True,
        "diagnostics": [],
    }


async def test_format_leaves_a_formatted_text_alone(client: httpx.AsyncClient) -> None:
    formatted = (await _answer(client, "/v1/format", {"content": HELLO}))["formatted"]
    assert await _answer(client, "/v1/format", {"content": formatted}) == {
        "formatted": formatted,
        "changed": False,
        "diagnostics": [],
    }


async def test_format_gives_broken_toml_back_with_its_diagnostics(client: httpx.AsyncClient) -> None:
    assert await _answer(client, "/v1/format", {"content": BROKEN}) == {
        "formatted": BROKEN,
        "changed": False,
        "diagnostics": [BROKEN_DIAGNOSTIC],
    }


async def test_format_reads_the_column_width_and_ignores_unknown_members(client: httpx.AsyncClient) -> None:
    body = {"content": "a = [1, 2, 3]\n", "options": {"column_width": 10}, "source": "x.mthds"}
    assert await _answer(client, "/v1/format", body) == {
        "formatted": "a = [\n  1,\n  2,\n  3,\n]\n",
        "changed": True,
        "diagnostics": [],
    }
    assert (await _answer(client, "/v1/format", {"content": "a = [1]\n", "options": None}))[
        "changed"
    ] is False


@pytest.mark.parametrize(
    "options",
    [{"column_width": "x"}, {"column_width": "20"}, {"column_width": 0}, {"column_width": -1},
     {"column_width": 1.5}, {"column_width": True}, {"nope": 1}, "wide", [80]],
)  # fmt: skip
async def test_format_refuses_bad_options(client: httpx.AsyncClient, options: object) -> None:
    response = await client.post("/v1/format", json={"content": "a = 1\n", "options": options})
    document = assert_problem(response, 422, "request.invalid")
    assert document["params"] == {"field": "options"}
    assert document["location"] == {"field": "options"}


# --- lint --------------------------------------------------------------------------------------------


async def test_lint_finds_nothing_in_a_valid_bundle(client: httpx.AsyncClient) -> None:
    assert await _answer(client, "/v1/lint", {"content": HELLO, "source": "hello.mthds"}) == {
        "diagnostics": []
    }


async def test_lint_ranges_a_syntax_error(client: httpx.AsyncClient) -> None:
    assert await _answer(client, "/v1/lint", {"content": BROKEN}) == {"diagnostics": [BROKEN_DIAGNOSTIC]}


async def test_lint_reports_an_unresolved_concept_on_its_key(client: httpx.AsyncClient) -> None:
    text = HELLO.replace(
        'output = "Welcome"\n\n[pipe.wrap.construct]', 'output = "Welcom"\n\n[pipe.wrap.construct]'
    )
    diagnostics = (await _answer(client, "/v1/lint", {"content": text}))["diagnostics"]
    line = text.split("\n").index('output = "Welcom"') + 1
    offset = len(text[: text.index('output = "Welcom"')].encode())
    assert diagnostics[0] == {
        "kind": "semantic",
        "severity": "error",
        "message": "Pipe 'wrap' names the concept 'Welcom' in its output, which no library declares.",
        "location": "pipe.wrap.output",
        "range": {
            "start_offset": offset,
            "end_offset": offset + len("output"),
            "start_line": line,
            "start_col": 1,
            "end_line": line,
            "end_col": 7,
        },
    }


SIBLING = 'domain = "briefs"\n\n[concept]\nFinding = "A finding"\n'
READER = """domain = "briefs"
main_pipe = "quote"

[pipe.quote]
type = "PipeCompose"
description = "Quote a finding"
inputs = { finding = "Finding" }
output = "Text"
template = "{{ finding }}"
"""


async def test_lint_resolves_what_companion_bundles_declare(client: httpx.AsyncClient) -> None:
    alone = (await client.post("/v1/lint", json={"content": READER})).json()["diagnostics"]
    assert [(item["kind"], item["severity"]) for item in alone] == [("semantic", "error")]
    assert "Finding" in alone[0]["message"]
    together = await client.post(
        "/v1/lint", json={"content": READER, "companions": {"findings.mthds": SIBLING}}
    )
    assert together.status_code == 200, together.text
    assert together.json() == {"diagnostics": []}
    # A companion's own faults are not the text's.
    broken = await client.post(
        "/v1/lint", json={"content": READER, "companions": {"findings.mthds": SIBLING + "[pipe.x]\n"}}
    )
    assert all("pipe.x" not in (item["location"] or "") for item in broken.json()["diagnostics"])


@pytest.mark.parametrize(
    "companions", [["not", "a map"], {"a.mthds": 3}, {f"{n}.mthds": "" for n in range(20)}]
)
async def test_lint_refuses_bad_companions(client: httpx.AsyncClient, companions: object) -> None:
    response = await client.post("/v1/lint", json={"content": READER, "companions": companions})
    assert assert_problem(response, 422, "request.invalid")["params"]["field"].startswith("companions")


async def test_lint_reports_a_key_defined_twice(client: httpx.AsyncClient) -> None:
    assert await _answer(client, "/v1/lint", {"content": 'domain = "a"\ndomain = "b"\n'}) == {
        "diagnostics": [
            {
                "kind": "semantic",
                "severity": "error",
                "message": "conflicting keys: 'domain' and 'domain'",
                "location": None,
                "range": {
                    "start_offset": 13,
                    "end_offset": 19,
                    "start_line": 2,
                    "start_col": 1,
                    "end_line": 2,
                    "end_col": 7,
                },
            }
        ]
    }


# --- refusals shared by both routes ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/lint", "/v1/format"])
@pytest.mark.parametrize("body", [{}, {"content": None}, {"content": 3}, {"source": "a.mthds"}])
async def test_content_is_required_and_a_string(client: httpx.AsyncClient, path: str, body: object) -> None:
    document = assert_problem(await client.post(path, json=body), 422, "request.invalid")
    assert document["params"] == {"field": "content"}


@pytest.mark.parametrize("path", ["/v1/lint", "/v1/format"])
async def test_a_body_that_is_not_json_is_malformed(client: httpx.AsyncClient, path: str) -> None:
    response = await client.post(path, content=b"{not json", headers={"content-type": "application/json"})
    assert_problem(response, 422, "request.malformed")
    response = await client.post(path, json=["a = 1"])
    assert assert_problem(response, 422, "request.invalid")["params"] == {"field": "body"}


@pytest.mark.parametrize("path", ["/v1/lint", "/v1/format"])
async def test_content_is_bounded_by_the_per_bundle_limit_in_bytes(path: str) -> None:
    async with asgi_client(ApiSettings(max_mthds_file_kib=1)) as client:
        at_limit = "# " + "x" * 1021 + "\n"  # 1,024 bytes
        assert (await client.post(path, json={"content": at_limit})).status_code == 200
        over = "# " + "é" * 511 + "\n"  # 514 characters, 1,025 bytes
        document = assert_problem(await client.post(path, json={"content": over}), 422, "request.invalid")
        assert document["params"] == {"field": "content"}
        assert "1025" in document["detail"]


@pytest.mark.parametrize("path", ["/v1/lint", "/v1/format"])
async def test_the_routes_are_authenticated(path: str) -> None:
    settings = ApiSettings(auth_mode=AuthMode.API_KEY, api_key=SecretStr("k1"))
    async with asgi_client(settings) as client:
        assert_problem(await client.post(path, json={"content": "a = 1\n"}), 401, "auth.missing_credential")
        answer = await client.post(path, json={"content": "a = 1\n"}, headers={"Authorization": "Bearer k1"})
        assert answer.status_code == 200


async def test_openapi_documents_both_bodies_and_answers(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    for path, members, answer in (
        ("/v1/lint", {"content", "source", "companions"}, "LintAnswer"),
        ("/v1/format", {"content", "options"}, "FormatAnswer"),
    ):
        operation = document["paths"][path]["post"]
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        assert set(schema["properties"]) == members
        assert schema["required"] == ["content"]
        assert "$defs" not in json.dumps(schema), "nested models are inlined: no reference dangles"
        ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok == {"$ref": f"#/components/schemas/{answer}"}
    options = document["paths"]["/v1/format"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert options["properties"]["options"]["anyOf"][0]["additionalProperties"] is False
    diagnostic = document["components"]["schemas"]["Diagnostic"]
    assert set(diagnostic["properties"]) == {"kind", "severity", "message", "location", "range"}
