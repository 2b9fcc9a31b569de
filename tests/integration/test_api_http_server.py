"""The API behind a real uvicorn process on loopback: body limits on the wire, start-up refusals (§4.4, §14)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers.api_server import REPO_ROOT, assert_problem, running_api_server

LIMIT_MIB = 10
LIMIT_BYTES = LIMIT_MIB * 1024 * 1024


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with running_api_server({"MAX_REQUEST_BODY_MIB": str(LIMIT_MIB)}) as url:
        yield url


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        yield client


async def test_serves_over_http(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/version", headers={"x-request-id": "over-the-wire"})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "over-the-wire"
    assert_problem(await client.get("/v1/validate"), 405, "request.method_not_allowed")
    body = {"mthds_contents": "not a list"}
    assert_problem(await client.post("/v1/validate", json=body), 422, "request.invalid")


async def test_fifty_megabytes_are_refused_on_content_length(client: httpx.AsyncClient) -> None:
    started = time.monotonic()
    response = await client.post("/v1/validate", content=b"x" * 50_000_000)
    elapsed = time.monotonic() - started
    document = assert_problem(response, 413, "request.too_large")
    # The declared size, not a count of bytes read: the body was judged before reading.
    assert document["params"] == {"limit": LIMIT_BYTES, "size": 50_000_000}
    assert elapsed < 10, f"413 took {elapsed:.1f} s"


async def test_chunked_body_is_cut_at_the_limit(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(LIMIT_BYTES // 65536 * 2):
            yield b"y" * 65536

    response = await client.post("/v1/validate", content=chunks())
    assert response.request.headers.get("transfer-encoding") == "chunked"
    document = assert_problem(response, 413, "request.too_large")
    assert document["params"]["limit"] == LIMIT_BYTES
    assert LIMIT_BYTES < document["params"]["size"] <= LIMIT_BYTES + 1024 * 1024


async def test_body_at_the_limit_is_read(client: httpx.AsyncClient) -> None:
    body = b'{"mthds_contents": "x"}' + b" " * (LIMIT_BYTES - 23)
    assert len(body) == LIMIT_BYTES
    response = await client.post("/v1/validate", content=body)
    assert assert_problem(response, 422, "request.invalid")["params"] == {"field": "mthds_contents"}


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"MODEL_DECK": "/nonexistent/deck.toml"}, "MODEL_DECK"),
        ({"MODEL_DECK": "__written__"}, "MODEL_DECK"),
        ({"MAX_REQUEST_BODY_MIB": "lots"}, "MAX_REQUEST_BODY_MIB"),
        ({"LOG_LEVEL": "chatty"}, "LOG_LEVEL"),
    ],
)
def test_bad_settings_stop_the_process_naming_the_variable(
    env: dict[str, str], named: str, tmp_path: Path
) -> None:
    if env.get("MODEL_DECK") == "__written__":
        deck = tmp_path / "deck.toml"
        deck.write_text("[models.x]\ntype = 'no-such-family'\n", encoding="utf-8")
        env = {"MODEL_DECK": str(deck)}
    command = [sys.executable, "-m", "uvicorn", "api.main:create_app", "--factory", "--port", "0"]
    finished = subprocess.run(
        command,
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode != 0
    assert named in finished.stderr.decode(errors="replace")
