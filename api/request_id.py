"""Request ids (http-api.md §1): echoed or generated, stamped on every answer with `Vary: Origin`. Pure ASGI.

The id is kept in the scope's state (handlers read `request.state.request_id`) and in a contextvar for logs.
"""

from __future__ import annotations

import re
from contextvars import ContextVar

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from ulid import ULID

from shared.observability.log_fields import log_fields

# 1-128 visible ASCII characters: anything else (spaces, controls, non-ASCII, too long) is replaced.
_ACCEPTABLE_ID = re.compile(r"[\x21-\x7e]{1,128}")

current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)


def request_id_of(scope: Scope) -> str:
    """The id given to this request by `RequestIdMiddleware` (a fresh one if it did not run)."""
    state: dict[str, object] = scope.get("state") or {}
    found = state.get("request_id")
    return found if isinstance(found, str) else str(ULID())


def accepted_request_id(value: str | None) -> str:
    """The caller's id when it is acceptable, else a new ULID."""
    if value is not None and _ACCEPTABLE_ID.fullmatch(value):
        return value
    return str(ULID())


def _add_vary_origin(headers: MutableHeaders) -> None:
    # CORS answers depend on Origin whatever the allowlist, so caches must key on it (§1, §14).
    vary = headers.get("vary")
    if vary is None:
        headers["vary"] = "Origin"
        return
    tokens = {token.strip().lower() for token in vary.split(",")}
    if "origin" not in tokens and "*" not in tokens:
        headers["vary"] = f"{vary}, Origin"


class RequestIdMiddleware:
    """Gives each HTTP request an id and puts `X-Request-ID` and `Vary: Origin` on its answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = accepted_request_id(Headers(scope=scope).get("x-request-id"))
        scope.setdefault("state", {})["request_id"] = request_id
        token = current_request_id.set(request_id)

        async def send_stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["x-request-id"] = request_id
                _add_vary_origin(headers)
            await send(message)

        try:
            # The request's log fields start with its id (LOG_FORMAT=json lines carry it).
            with log_fields(request_id=request_id):
                await self.app(scope, receive, send_stamped)
        finally:
            current_request_id.reset(token)
