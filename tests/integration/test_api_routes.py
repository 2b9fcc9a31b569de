"""Public routes, routing errors, request ids, CORS and the OpenAPI document (http-api.md §1, §2, §3, §13)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from ulid import ULID

from api.routes import validate as validate_route
from api.settings import ApiSettings
from shared.language.report import ValidationReport
from tests.helpers.api_server import asgi_client, assert_problem


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client() as client:
        yield client


async def test_banner_and_health(client: httpx.AsyncClient) -> None:
    assert (await client.get("/")).json() == {"message": "methodflow"}
    health = await client.get("/health")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "message": "methodflow is running"}


async def test_version_reports_the_configured_limits() -> None:
    settings = ApiSettings(max_bundle_files=7, max_mthds_file_kib=2, max_bundle_total_kib=3)
    async with asgi_client(settings) as client:
        for path in ("/v1/version", "/api/v1/pipelex_version", "/api/v1/api_version"):
            version = (await client.get(path)).json()
            assert version["protocol_version"] == "2.0.0"
            assert version["implementation"] == "methodflow"
            assert version["blob_store"] is True
            assert version["limits"]["method_tree"] == {
                "max_inline_bytes": 3072,
                "max_files": 7,
                "max_file_bytes": 2048,
                "max_total_bytes": 3072,
            }
            assert set(version["capabilities"]) == {"run_lifecycle", "cancel", "events", "callbacks", "build"}


@pytest.mark.parametrize(
    "path", ["/nope", "/v1/validate/", "/v1/version/", "/v1/blob/abc", "/api/v1/pipeline/validate/", "/v1"]
)
async def test_unknown_paths_are_not_found(client: httpx.AsyncClient, path: str) -> None:
    assert_problem(await client.get(path), 404, "request.not_found")
    assert_problem(await client.post(path, json={}), 404, "request.not_found")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/v1/validate", "POST"),
        ("PUT", "/v1/validate", "POST"),
        ("POST", "/v1/version", "GET"),
        ("DELETE", "/health", "GET"),
        # The upload target's path: a known route that only takes PUT.
        ("GET", "/v1/blobs/abc", "PUT"),
    ],
)
async def test_wrong_method_is_not_allowed(
    client: httpx.AsyncClient, method: str, path: str, allow: str
) -> None:
    response = await client.request(method, path)
    assert_problem(response, 405, "request.method_not_allowed")
    assert allow in response.headers["allow"]


async def test_request_id_is_echoed_when_acceptable(client: httpx.AsyncClient) -> None:
    for given in ("abc", "x" * 128, "req-1:2/3~!"):
        response = await client.get("/health", headers={"x-request-id": given})
        assert response.headers["x-request-id"] == given
    problem = await client.get("/nope", headers={"x-request-id": "trace-42"})
    assert assert_problem(problem, 404, "request.not_found")["request_id"] == "trace-42"


async def test_request_id_is_generated_otherwise(client: httpx.AsyncClient) -> None:
    given_values: list[bytes | None] = [None, b"", b"x" * 129, b"has space", b"tab\tinside", "é".encode()]
    for given in given_values:
        headers: dict[bytes, bytes] = {} if given is None else {b"x-request-id": given}
        response = await client.get("/health", headers=headers)
        generated = response.headers["x-request-id"]
        assert generated.encode() != given
        ULID.from_str(generated)
    first, second = (
        (await client.get("/")).headers["x-request-id"],
        (await client.get("/")).headers["x-request-id"],
    )
    assert first != second


async def test_every_answer_varies_on_origin(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get("/"),
        await client.get("/nope"),
        await client.post("/v1/validate", content=b"x"),
    ):
        assert "Origin" in response.headers["vary"]


async def test_cors_any_origin_without_credentials(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"origin": "https://app.example"})
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers
    preflight = await client.options(
        "/v1/validate",
        headers={
            "origin": "https://app.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-max-age"] == "600"
    assert "POST" in preflight.headers["access-control-allow-methods"]


async def test_cors_allowlist_with_credentials() -> None:
    settings = ApiSettings(cors_allow_origins="https://a.example, https://b.example")
    async with asgi_client(settings) as client:
        allowed = await client.get("/health", headers={"origin": "https://b.example"})
        assert allowed.headers["access-control-allow-origin"] == "https://b.example"
        assert allowed.headers["access-control-allow-credentials"] == "true"
        assert "x-request-id" in allowed.headers["access-control-expose-headers"].lower()
        refused = await client.get("/health", headers={"origin": "https://evil.example"})
        assert "access-control-allow-origin" not in refused.headers
        assert refused.headers["vary"].count("Origin") == 1


async def test_unexpected_errors_are_a_fixed_500(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(*_args: Any, **_kwargs: Any) -> Any:
        msg = "secret internals"
        raise RuntimeError(msg)

    monkeypatch.setattr(validate_route, "validate_sources", explode)
    response = await client.post(
        "/v1/validate", json={"mthds_contents": ["x"]}, headers={"x-request-id": "boom-1"}
    )
    document = assert_problem(response, 500, "runtime.unexpected")
    assert "secret" not in response.text
    assert document["request_id"] == "boom-1"
    assert any("boom-1" in record.getMessage() and record.exc_info for record in caplog.records)


async def test_validation_leaves_the_event_loop_free(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()

    def slow_validation(*_args: Any, **_kwargs: Any) -> ValidationReport:
        release.wait(timeout=10)
        return ValidationReport()

    monkeypatch.setattr(validate_route, "validate_sources", slow_validation)
    pending = asyncio.create_task(client.post("/v1/validate", json={"mthds_contents": ["x"]}))
    try:
        health = await asyncio.wait_for(client.get("/health"), timeout=5)
        assert health.status_code == 200
        assert not pending.done()
    finally:
        release.set()
    assert (await pending).json()["is_valid"] is True


async def test_openapi_marks_only_the_protocol_operations(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    paths: dict[str, dict[str, dict[str, Any]]] = response.json()["paths"]
    marked = {
        (method.upper(), path)
        for path, operations in paths.items()
        for method, operation in operations.items()
        if operation.get("x-mthds-protocol") is True
    }
    assert marked == {
        ("GET", "/v1/models"),
        ("POST", "/v1/validate"),
        ("GET", "/v1/version"),
        ("POST", "/v1/execute"),
        ("POST", "/v1/start"),
        ("POST", "/v1/blobs/missing"),
        ("PUT", "/v1/blobs/{sha256}"),
    }
    schema = paths["/v1/validate"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"files", "mthds_contents", "render", "views"} <= set(schema["properties"])
    assert (await client.get("/docs")).status_code == 200
