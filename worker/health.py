"""The worker's health port: `GET` anything answers 200 while the process polls (a Kubernetes probe)."""

from __future__ import annotations

import asyncio

_ANSWER = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 16\r\nConnection: close\r\n\r\n{"status":"ok"}\n'


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
        writer.write(_ANSWER)
        await writer.drain()
    except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass  # a probe that hangs up or sends garbage gets nothing; the next probe is answered
    finally:
        writer.close()


async def serve_health(port: int, host: str = "0.0.0.0") -> asyncio.Server:  # noqa: S104 -- probes come from the kubelet
    return await asyncio.start_server(_answer, host, port)
