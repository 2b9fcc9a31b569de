"""The run stack as tests meet it: the real Temporal dev server (once per session), a worker in-process
on its own task queue, and the API served by uvicorn on a loopback port, spoken to over real HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from api.main import create_app
from api.settings import ApiSettings
from worker.dev_server import free_port
from worker.runner import build_worker
from worker.settings import WorkerSettings
from worker.temporal_connection import connect


@dataclass
class RunStack:
    base_url: str
    task_queue: str
    client: httpx.AsyncClient

    async def wait_for_end(
        self, run_id: str, *, within: float = 30, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Poll `/status` until the run is terminal; return the last status body."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            response = await self.client.get(f"/v1/runs/{run_id}/status", headers=headers)
            body: dict[str, Any] = response.json()
            if body.get("state") in ("COMPLETED", "FAILED", "CANCELLED"):
                return body
            if asyncio.get_running_loop().time() > deadline:
                msg = f"run {run_id} did not end within {within} s: {body}"
                raise AssertionError(msg)
            await asyncio.sleep(0.05)


@asynccontextmanager
async def run_stack(
    temporal_address: str,
    data_dir: Path,
    *,
    worker: bool = True,
    api_overrides: dict[str, Any] | None = None,
    worker_overrides: dict[str, Any] | None = None,
) -> AsyncGenerator[RunStack]:
    """An API (uvicorn, real socket) and optionally a worker, sharing a fresh task queue and data dir."""
    task_queue = f"test-{uuid.uuid4()}"
    settings = ApiSettings(
        temporal_address=temporal_address,
        temporal_task_queue=task_queue,
        data_dir=data_dir,
        **(api_overrides or {}),
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 -- uvicorn offers a flag, not an event
        await asyncio.sleep(0.01)
    async with contextlib.AsyncExitStack() as stack:
        if worker:
            client = await connect(temporal_address)
            worker_settings = WorkerSettings(data_dir=data_dir, **(worker_overrides or {}))
            await stack.enter_async_context(build_worker(client, worker_settings, task_queue=task_queue))
        http = await stack.enter_async_context(
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30)
        )
        try:
            yield RunStack(f"http://127.0.0.1:{port}", task_queue, http)
        finally:
            server.should_exit = True
            await serving
