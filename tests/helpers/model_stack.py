"""A run stack whose worker talks to loopback model servers: the deck written, the servers served, their
base URLs and keys given to the worker. Shared by the model-backed operators' end-to-end tests.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from tests.helpers.model_servers.model_server import ModelServer
from tests.helpers.model_servers.serving import serving
from tests.helpers.run_stack import RunStack, run_stack


@asynccontextmanager
async def model_stack(
    temporal_address: str,
    tmp_path: Path,
    servers: Sequence[ModelServer],
    *,
    deck: str | None = None,
    keys: Mapping[str, str | None] | None = None,
    api_overrides: Mapping[str, Any] | None = None,
    **worker_overrides: Any,
) -> AsyncGenerator[RunStack]:
    """API and worker on `tmp_path / "data"`; `deck` (TOML text) for both; `keys` by server API
    ("openai", "anthropic": a key, or None for none); `worker_overrides` are WorkerSettings fields."""
    api: dict[str, Any] = dict(api_overrides or {})
    worker: dict[str, Any] = {}
    if deck is not None:
        deck_file = tmp_path / "deck.toml"
        deck_file.write_text(deck, encoding="utf-8")
        api["model_deck"] = worker["model_deck"] = deck_file
    for server in servers:
        worker[f"{server.api}_base_url"] = server.base_url
        key = (keys or {}).get(server.api, server.api_key)
        if key is not None:
            worker[f"{server.api}_api_key"] = key
    worker |= worker_overrides
    async with AsyncExitStack() as stack:
        for server in servers:
            await stack.enter_async_context(serving(server))
        yield await stack.enter_async_context(
            run_stack(temporal_address, tmp_path / "data", api_overrides=api, worker_overrides=worker)
        )


def main_content(body: dict[str, Any]) -> Any:
    """The main stuff's content of a completed `/v1/execute` answer."""
    assert body["state"] == "COMPLETED", body
    return body["pipe_output"]["working_memory"]["root"][body["main_stuff_name"]]["content"]
