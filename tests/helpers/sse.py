"""Reads a Server-Sent Events stream the way a browser's EventSource does (fields, blank-line frames)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class SseFrame:
    """One frame: an event (with id, name and JSON data), a `retry:` hint, or a comment."""

    event: str | None = None
    id: str | None = None
    data_lines: list[str] = field(default_factory=list[str])
    retry: int | None = None
    comment: str | None = None

    @property
    def data(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads("\n".join(self.data_lines))
        return parsed


async def sse_frames(response: httpx.Response) -> AsyncIterator[SseFrame]:
    frame = SseFrame()
    async for line in response.aiter_lines():
        if line == "":
            yield frame
            frame = SseFrame()
        elif line.startswith(":"):
            frame.comment = line[1:].strip()
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                frame.event = value
            elif name == "id":
                frame.id = value
            elif name == "data":
                frame.data_lines.append(value)
            elif name == "retry":
                frame.retry = int(value)


async def read_events(
    client: httpx.AsyncClient, path: str, headers: dict[str, str] | None = None
) -> list[SseFrame]:
    """Every frame of the stream until the server closes it."""
    async with client.stream("GET", path, headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        return [frame async for frame in sse_frames(response)]
