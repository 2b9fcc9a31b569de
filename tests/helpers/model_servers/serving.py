"""Serves a `ModelServer` with uvicorn on its loopback port for the length of an `async with` block."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

import uvicorn

from tests.helpers.model_servers.anthropic_server import anthropic_app
from tests.helpers.model_servers.model_server import ModelServer
from tests.helpers.model_servers.openai_server import openai_app
from worker.dev_server import HOST


@asynccontextmanager
async def serving(server: ModelServer) -> AsyncGenerator[ModelServer]:
    """Serve `server` (its `api` picks the app) until the block ends."""
    app = openai_app(server) if server.api == "openai" else anthropic_app(server)
    config = uvicorn.Config(app, host=HOST, port=server.port, log_level="warning", lifespan="off")
    uvicorn_server = uvicorn.Server(config)
    task = asyncio.create_task(uvicorn_server.serve())
    while not uvicorn_server.started:  # uvicorn offers a flag, not an event
        if task.done():  # e.g. the port was taken meanwhile: show uvicorn's error, don't spin
            await task
            msg = f"the test model server did not start on {HOST}:{server.port}"
            raise RuntimeError(msg)
        await asyncio.sleep(0.01)
    try:
        yield server
    finally:
        uvicorn_server.should_exit = True
        uvicorn_server.force_exit = True  # a request still delayed must not hold the test
        await task
