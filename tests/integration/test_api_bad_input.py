"""Every way a validate request can be unusable answers a problem document, never a 500 (http-api.md §4.5, §8.1)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from api.settings import ApiSettings
from tests.helpers.api_server import asgi_client, assert_problem

GREET = """domain = "greetings"
main_pipe = "greet"
[pipe.greet]
type = "PipeCompose"
description = "Greets someone"
inputs = { name = "Text" }
output = "Text"
template = "Hello, $name!"
"""


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client() as client:
        yield client


async def _post(client: httpx.AsyncClient, body: Any) -> httpx.Response:
    return await client.post("/v1/validate", json=body)


async def test_binary_garbage_is_malformed(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/validate", content=bytes(range(256)) * 4)
    document = assert_problem(response, 422, "request.malformed")
    assert document["params"] == {"reason": "not_json"}


@pytest.mark.parametrize("content", [b"", b"{", b"mthds_contents = []", b'{"a": NaN}', b"\xef\xbb\xbf{}"])
async def test_text_that_is_not_json_is_malformed(client: httpx.AsyncClient, content: bytes) -> None:
    response = await client.post(
        "/v1/validate", content=content, headers={"content-type": "application/json"}
    )
    assert assert_problem(response, 422, "request.malformed")["params"] == {"reason": "not_json"}


async def test_body_is_json_whatever_the_content_type(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/validate", content=b'{"mthds_contents": "x"}', headers={"content-type": "text/plain"}
    )
    assert assert_problem(response, 422, "request.invalid")["params"] == {"field": "mthds_contents"}


@pytest.mark.parametrize("content", [b"[]", b'["x"]', b'"text"', b"3", b"null", b"true"])
async def test_json_that_is_not_an_object_names_the_body(client: httpx.AsyncClient, content: bytes) -> None:
    document = assert_problem(await client.post("/v1/validate", content=content), 422, "request.invalid")
    assert document["params"] == {"field": "body"}
    assert document["location"] == {"field": "body"}


async def test_deep_nesting_is_refused_without_recursion(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/validate", content=b"[" * 100_000 + b"]" * 100_000)
    assert assert_problem(response, 422, "request.malformed")["params"] == {"reason": "too_deep"}
    nested_in_field = b'{"mthds_contents": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert_problem(await client.post("/v1/validate", content=nested_in_field), 422, "request.malformed")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mthds_contents": GREET}, "mthds_contents"),
        ({"mthds_contents": [GREET, 3]}, "mthds_contents"),
        ({"mthds_content": ["x"]}, "mthds_content"),
        ({"plx_content": 1}, "plx_content"),
        ({"files": "bundle.mthds"}, "files"),
        ({"mthds_contents": [GREET], "mthds_sources": "a.mthds"}, "mthds_sources"),
        ({"mthds_contents": [GREET], "allow_signatures": "yes"}, "allow_signatures"),
        ({"mthds_contents": [GREET], "render": "markdown"}, "render"),
        ({"mthds_contents": [GREET], "views": [1]}, "views"),
        # The first bad field in the model's order wins.
        ({"views": 1, "mthds_contents": "x"}, "mthds_contents"),
    ],
)
async def test_wrong_field_type_names_the_field(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    document = assert_problem(await _post(client, body), 422, "request.invalid")
    assert document["params"] == {"field": field}
    assert document["location"] == {"field": field}
    assert field in document["detail"]


async def test_no_source_names_mthds_contents(client: httpx.AsyncClient) -> None:
    for body in ({}, {"pipe_code": "greet"}, {"mthds_contents": None}):
        document = assert_problem(await _post(client, body), 422, "request.invalid")
        assert document["params"] == {"field": "mthds_contents"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"files": {"b.mthds": GREET}, "mthds_contents": [GREET]}, "mthds_contents"),
        ({"mthds_contents": [GREET], "mthds_content": GREET}, "mthds_content"),
        ({"plx_content": GREET, "mthds_content": GREET}, "plx_content"),
        ({"plx_content": GREET, "files": {"b.mthds": GREET}}, "plx_content"),
        ({"plx_content": GREET, "files": {}, "mthds_contents": [], "mthds_content": ""}, "mthds_contents"),
    ],
)
async def test_two_sources_name_the_later_one(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    document = assert_problem(await _post(client, body), 422, "request.invalid")
    assert document["params"] == {"field": field}


async def test_empty_sources_are_invalid(client: httpx.AsyncClient) -> None:
    assert_problem(await _post(client, {"mthds_contents": []}), 422, "request.invalid")
    assert_problem(await _post(client, {"files": {}}), 422, "request.invalid")
    assert_problem(await _post(client, {"files": {"README.md": "# hi"}}), 422, "request.invalid")


async def test_source_paths_must_match_the_texts(client: httpx.AsyncClient) -> None:
    body = {"mthds_contents": [GREET, GREET], "mthds_sources": ["a.mthds"]}
    assert assert_problem(await _post(client, body), 422, "request.invalid")["params"] == {
        "field": "mthds_sources"
    }


async def test_hash_entries_are_missing_blobs(client: httpx.AsyncClient) -> None:
    digest = "ab" * 32
    body = {"files": {"main.mthds": GREET, "lib/other.mthds": {"sha256": digest, "size": 120}}}
    document = assert_problem(await _post(client, body), 422, "request.blobs_missing")
    assert document["params"]["missing_blobs"] == [digest]
    assert document["location"] == {"field": "files"}


@pytest.mark.parametrize(
    "entry",
    [
        {"sha256": "not-hex", "size": 1},
        {"sha256": "ab" * 32, "size": -1},
        {"sha256": "ab" * 32},
        {"base64": "!!!"},
        {"base64": "aGk"},  # unpadded: not canonical
        {"text": GREET},
        {"base64": 12},
    ],
)
async def test_malformed_file_entries_name_files(client: httpx.AsyncClient, entry: dict[str, Any]) -> None:
    document = assert_problem(await _post(client, {"files": {"main.mthds": entry}}), 422, "request.invalid")
    assert document["params"] == {"field": "files"}


async def test_bundle_that_is_not_utf8_is_a_verdict_on_the_request(client: httpx.AsyncClient) -> None:
    body = {"files": {"main.mthds": {"base64": base64.b64encode(b"\xff\xfe\x00bad").decode()}}}
    document = assert_problem(await _post(client, body), 422, "request.invalid")
    assert "main.mthds" in document["detail"]


async def test_list_form_items_must_carry_content(client: httpx.AsyncClient) -> None:
    document = assert_problem(await _post(client, {"files": [{"source": "a.mthds"}]}), 422, "request.invalid")
    assert document["params"] == {"field": "files"}


def _small_limits() -> ApiSettings:
    return ApiSettings(
        max_mthds_file_kib=1, max_mthds_files_per_request=2, max_bundle_files=3, max_bundle_total_kib=2
    )


async def test_limits_answer_413_with_the_field() -> None:
    big = "x" * 1025
    cases: list[tuple[dict[str, Any], str, int, int]] = [
        ({"mthds_contents": [big]}, "mthds_contents", 1024, 1025),
        ({"mthds_content": "é" * 513}, "mthds_content", 1024, 1026),
        ({"plx_content": big}, "plx_content", 1024, 1025),
        ({"mthds_contents": [GREET, GREET, GREET]}, "mthds_contents", 2, 3),
        ({"files": {f"{n}.mthds": "x" for n in range(4)}}, "files", 3, 4),
        ({"files": {"a.mthds": big}}, "files", 1024, 1025),
        ({"files": {"a.mthds": {"base64": base64.b64encode(b"x" * 3000).decode()}}}, "files", 1024, 3000),
        ({"files": {"a.bin": {"base64": base64.b64encode(b"x" * 1025).decode()}}}, "files", 1024, 1025),
        ({"files": {"a.mthds": "x" * 1000, "b.py": "y" * 1000, "c.txt": "z" * 100}}, "files", 2048, 2100),
    ]
    async with asgi_client(_small_limits()) as client:
        for body, field, limit, size in cases:
            document = assert_problem(await _post(client, body), 413, "request.too_large")
            assert document["params"] == {"field": field, "limit": limit, "size": size}, body.keys()


async def test_body_over_the_limit_is_refused_before_reading() -> None:
    async with asgi_client(ApiSettings(max_request_body_mib=1)) as client:
        response = await client.post("/v1/validate", content=b" " * (1024 * 1024 + 1))
        document = assert_problem(response, 413, "request.too_large")
        assert document["params"] == {"limit": 1024 * 1024, "size": 1024 * 1024 + 1}
