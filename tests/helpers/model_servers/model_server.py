"""A fake model provider's state: the script of faults it plays and the log of requests it received.

The HTTP side lives in `openai_server.py` / `anthropic_server.py` (one FastAPI app per API) and
`serving.py` (uvicorn on a loopback port); tests script faults here and read the log here.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from starlette.requests import Request
from starlette.responses import JSONResponse

from worker.dev_server import HOST, free_port

Api = Literal["openai", "anthropic"]
# Builds an error body in the API's own shape from (status, message, code).
ErrorBody = Callable[[int, str, str | None], dict[str, Any]]
DISCONNECT_POLL_SECONDS = 0.05


@dataclass
class Fault:
    """One scripted behaviour for the next `times` requests to `path` (every API path when None).

    `status` answers that HTTP error (with `retry_after` seconds in a Retry-After header, `message` and
    `code` in the error body); `delay` waits that long first (until the client hangs up); `text`
    replaces the generated answer, e.g. "not json" for a schema request. Combine them freely.
    """

    status: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    text: str | None = None
    message: str | None = None
    code: str | None = None
    path: str | None = None
    times: int = 1
    # Only requests whose JSON body this accepts (e.g. a prompt naming an item): faults by content,
    # whatever order concurrent requests arrive in.
    when: Callable[[dict[str, Any]], bool] | None = None

    def matches(self, path: str, body: dict[str, Any]) -> bool:
        return (
            self.times > 0
            and (self.path is None or self.path == path)
            and (self.when is None or self.when(body))
        )


@dataclass
class Received:
    """One request as the server saw it; `status` is what it answered (or will answer, once delayed)."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: dict[str, Any]  # the JSON body; {} when there was none
    at: float  # time.time() on arrival
    status: int
    fault: Fault | None

    @property
    def api_key(self) -> str | None:
        """The key the client sent, as `Authorization: Bearer ...` or as `x-api-key` (older Anthropic SDKs)."""
        return sent_key(self.headers)

    @property
    def retry_count(self) -> int:
        """Which retry of the SDK this request is (0 for the first attempt), from its Stainless header."""
        return int(self.headers.get("x-stainless-retry-count", "0"))


@dataclass
class ModelServer:
    """A fake provider speaking `api`; serve it with `serving.serving(server)`.

    `faults` play in order, each until its `times` are used; requests no fault matches get a normal
    answer (`answer` as text, or the schema's smallest valid instance). With `api_key` set, other keys
    get a 401 as from the real provider.
    """

    api: Api = "openai"
    faults: list[Fault] = field(default_factory=list[Fault])
    answer: str = "Hello from the test model."
    # A plain-text answer made from the request body instead of `answer` (e.g. echoing the prompt, so
    # that outputs differ by input and can be compared between runs).
    answer_of: Callable[[dict[str, Any]], str] | None = None
    models: list[str] = field(default_factory=lambda: ["test-model", "test-image-model"])
    api_key: str | None = None
    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list[Received])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def base_url(self) -> str:
        """What to give the SDK as `base_url`: the OpenAI SDK's includes `/v1`, Anthropic's does not."""
        return f"{self.url}/v1" if self.api == "openai" else self.url

    def script(self, *faults: Fault) -> None:
        """Queue `faults` after those already scripted."""
        self.faults.extend(faults)

    @property
    def pending_faults(self) -> list[Fault]:
        """The scripted faults not used up yet (`times` left)."""
        return [fault for fault in self.faults if fault.times > 0]

    def requests(self, path: str | None = None) -> list[Received]:
        """The log, oldest first, of every request or of those to `path` (e.g. "/v1/chat/completions")."""
        return [item for item in self.received if path is None or item.path == path]

    async def intake(self, request: Request) -> Received:
        """Read and log `request`, taking the next fault that matches it."""
        raw = await request.body()
        try:
            body: Any = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            body = {"_raw": raw.decode(errors="replace")}
        path = request.url.path
        headers = {key.lower(): value for key, value in request.headers.items()}
        refused = self._refuses(headers)  # checked first, as by the real providers: no fault is used up
        json_body = cast("dict[str, Any]", body) if isinstance(body, dict) else {}
        fault = None if refused else self._take_fault(path, json_body)
        status = 401 if refused else (fault.status if fault is not None and fault.status else 200)
        received = Received(request.method, path, headers, json_body, time.time(), status, fault)
        self.received.append(received)
        return received

    async def refusal(
        self, request: Request, received: Received, error_body: ErrorBody
    ) -> JSONResponse | None:
        """The error answer `received` gets after its delay, or None when it gets a normal answer."""
        fault = received.fault
        if fault is not None and fault.delay > 0:
            await _sleep_unless_gone(request, fault.delay)
        if received.status == 200:
            return None
        if fault is None or fault.status is None:  # refused for its key, not scripted
            return JSONResponse(
                error_body(401, "Incorrect API key provided.", "invalid_api_key"), status_code=401
            )
        headers = {"retry-after": _seconds(fault.retry_after)} if fault.retry_after is not None else {}
        message = fault.message or f"Scripted error {fault.status}."
        return JSONResponse(error_body(fault.status, message, fault.code), fault.status, headers)

    def _take_fault(self, path: str, body: dict[str, Any]) -> Fault | None:
        fault = next((item for item in self.faults if item.matches(path, body)), None)
        if fault is not None:
            fault.times -= 1
        return fault

    def _refuses(self, headers: dict[str, str]) -> bool:
        return self.api_key is not None and sent_key(headers) != self.api_key


def sent_key(headers: dict[str, str]) -> str | None:
    """The API key in lower-cased `headers`: a bearer token, else `x-api-key`."""
    bearer = headers.get("authorization", "")
    return bearer.removeprefix("Bearer ") if bearer.startswith("Bearer ") else headers.get("x-api-key")


async def _sleep_unless_gone(request: Request, seconds: float) -> None:
    """Wait `seconds`, or less if the client hangs up (a timed-out SDK), so no handler lingers."""
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if await request.is_disconnected():
            return
        await asyncio.sleep(
            min(DISCONNECT_POLL_SECONDS, max(0.0, deadline - asyncio.get_running_loop().time()))
        )


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def count_tokens(text: str) -> int:
    """A stand-in tokenizer: one token per whitespace-separated word."""
    return len(text.split())
