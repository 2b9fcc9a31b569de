"""The worker's health port, for Kubernetes probes.

`GET /ready` answers 200 with what the worker polls (its pool, its task queues, and the queues of the
deployment no worker polls) once the worker polls, 503 before; any other path (`/healthz`, liveness)
answers 200 while the process serves. No pool polling a routed queue does not make this worker unready:
a pool that KEDA scaled to zero polls nothing until work arrives, and the report says which queues wait.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

ReadyReport = Callable[[], Awaitable[dict[str, Any] | None]]  # None: not polling yet

_LIVE = b'{"status":"ok"}\n'


def _answer(status: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


async def _reply(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ready: ReadyReport | None
) -> None:
    try:
        request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
        path = request.split(b" ", 2)[1] if request.count(b" ") >= 2 else b"/"
        if path.split(b"?")[0] == b"/ready" and ready is not None:
            report = await ready()
            if report is None:
                writer.write(_answer("503 Service Unavailable", b'{"status":"starting"}\n'))
            else:
                writer.write(_answer("200 OK", json.dumps({"status": "ready", **report}).encode() + b"\n"))
        else:
            writer.write(_answer("200 OK", _LIVE))
        await writer.drain()
    except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass  # a probe that hangs up or sends garbage gets nothing; the next probe is answered
    finally:
        writer.close()


async def serve_health(
    port: int,
    host: str = "0.0.0.0",  # noqa: S104 -- probes come from the kubelet
    *,
    ready: ReadyReport | None = None,
) -> asyncio.Server:
    """Serve the probes on `port`; `ready` gives `/ready`'s report (without it `/ready` is liveness)."""
    return await asyncio.start_server(lambda reader, writer: _reply(reader, writer, ready), host, port)
