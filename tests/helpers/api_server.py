"""The API as tests meet it: the app in-process, a real uvicorn process on loopback, and the rules of a problem.

`assert_problem` checks what every error answer must satisfy (http-api.md §13.1, §15 item 8).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncGenerator, Generator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import IO, Any, cast

import httpx

from api.main import create_app
from api.settings import ApiSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){1,2}$")
DOMAINS = {"input", "method", "account", "operator", "runtime"}
RETRIES = {"no", "yes", "outcome_unknown"}
NEXT_STEP_KINDS = {
    "retry", "wait", "read_run", "refresh", "change_input", "change_method", "change_model",
    "check_credentials", "request_access", "check_account", "fix_configuration", "upgrade",
    "contact_owner", "report",
}  # fmt: skip
MEMBER_ORDER = [
    "type", "title", "status", "detail", "code", "domain", "retry", "retry_after", "next_step",
    "params", "location", "errors", "pipeline_run_id", "request_id", "run_error",
]  # fmt: skip


@asynccontextmanager
async def asgi_client(settings: ApiSettings | None = None) -> AsyncGenerator[httpx.AsyncClient]:
    """A client speaking to a fresh app in-process (no socket)."""
    app = create_app(settings or ApiSettings())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://methodflow.test") as client:
        yield client


def _contains_null(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, dict):
        return any(_contains_null(item) for item in cast(dict[str, object], value).values())
    return False


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Check `response` is a well-formed problem of `status` and `code`; return its document."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    document = cast(dict[str, Any], response.json())
    assert document["code"] == code
    assert CODE_PATTERN.match(document["code"])
    assert document["status"] == status
    assert isinstance(document["title"], str)
    assert document["title"]
    assert isinstance(document["detail"], str)
    assert document["detail"]
    assert document["domain"] in DOMAINS
    assert document["retry"] in RETRIES
    assert document["next_step"]["kind"] in NEXT_STEP_KINDS
    assert isinstance(document["next_step"]["detail"], str)
    prefix = "https://docs.pipelex.com/errors/" if code.startswith("pipelex.") else "https://mthds.ai/errors/"
    assert document["type"] == prefix + code
    assert document["request_id"] == response.headers["x-request-id"]
    assert list(document) == [member for member in MEMBER_ORDER if member in document], "member order"
    assert not _contains_null(document), "problem members are absent, never null"
    assert "Origin" in response.headers["vary"]
    return document


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return cast(int, probe.getsockname()[1])


@contextmanager
def running_api_server(env: dict[str, str] | None = None, *, startup_seconds: float = 30) -> Generator[str]:
    """Run `uvicorn api.main:create_app --factory` on a free loopback port; yield its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "api.main:create_app", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_serving(process, base_url, startup_seconds, log)
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_serving(
    process: subprocess.Popen[bytes], base_url: str, seconds: float, log: IO[bytes]
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            msg = f"the API server exited at start-up:\n{log.read().decode(errors='replace')}"
            raise RuntimeError(msg)
        try:
            if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    msg = f"the API server did not answer within {seconds} s"
    raise RuntimeError(msg)
