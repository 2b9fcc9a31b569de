"""A callback receiver on a loopback port (uvicorn, real HTTP) that answers from a script and records
every request it gets: the stand-in for a client's webhook endpoint.

Script items: an HTTP status to answer, `"hang"` (answer only after a long wait, so the sender times
out), or `"redirect"` (302 to another path). The last item repeats once the script is used up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import uvicorn
from starlette.types import Receive, Scope, Send

from worker.dev_server import free_port

ScriptItem = int | str
HANG_SECONDS = 60


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    answered: int


@dataclass
class CallbackReceiver:
    script: list[ScriptItem]
    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list[Received])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/run-done"

    def answered(self, status: int) -> list[Received]:
        return [item for item in self.received if item.answered == status]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        item = self.script[min(len(self.received), len(self.script) - 1)]
        status = 200 if item == "hang" else 302 if item == "redirect" else int(item)
        headers = {key.decode(): value.decode() for key, value in scope["headers"]}
        self.received.append(Received(scope["path"], headers, body, time.time(), status))
        if item == "hang":
            await asyncio.sleep(HANG_SECONDS)
        extra = [(b"location", b"/elsewhere")] if item == "redirect" else []
        await send({"type": "http.response.start", "status": status, "headers": extra})
        await send({"type": "http.response.body", "body": b"ok"})


@asynccontextmanager
async def serving(receiver: CallbackReceiver) -> AsyncGenerator[CallbackReceiver]:
    """Serve `receiver` on its port until the block ends."""
    server = uvicorn.Server(
        uvicorn.Config(receiver, host="127.0.0.1", port=receiver.port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 -- uvicorn offers a flag, not an event
        await asyncio.sleep(0.01)
    try:
        yield receiver
    finally:
        server.should_exit = True
        server.force_exit = True  # a hanging request must not hold the test
        await task
