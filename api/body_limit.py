"""`MAX_REQUEST_BODY_MIB` (http-api.md §4.4): 413 before reading when Content-Length says too much. Pure ASGI.

Chunked bodies have no Content-Length: they are counted as they are read, and the read that crosses the
limit raises, so a route never holds more than the limit plus one chunk.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem_response, request_too_large
from api.request_id import request_id_of


def _declared_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    if value is None or not value.isdigit():
        # HTTP servers refuse malformed lengths themselves; counting the bytes still bounds the body.
        return None
    return int(value)


def _too_large(limit: int, size: int, *, declared: bool) -> str:
    measured = "declares" if declared else "has at least"
    return f"The request body {measured} {size} bytes; this service accepts at most {limit}."


class BodyLimitMiddleware:
    """Refuses request bodies larger than `max_body_bytes` with 413 `request.too_large`."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            # Answer without reading a byte of the body: the server then closes the connection.
            error = request_too_large(
                detail=_too_large(limit, declared, declared=True), limit=limit, size=declared
            )
            await problem_response(error, request_id_of(scope))(scope, receive, send)
            return

        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise request_too_large(
                        detail=_too_large(limit, received, declared=False), limit=limit, size=received
                    )
            return message

        await self.app(scope, counting_receive, send)
