"""`methodflow dev` and `methodflow worker` as a user runs them: the installed script, real processes, loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

METHODFLOW = Path(sys.executable).parent / "methodflow"
HOST = "127.0.0.1"
UI_PORT_OFFSET = 1000
START_SECONDS = 30
STOP_SECONDS = 30


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _free_temporal_port() -> int:
    """A free port whose UI neighbour (port + 1000) is free too."""
    for _ in range(50):
        port = _free_port()
        if port + UI_PORT_OFFSET < 65536 and not _accepts(port + UI_PORT_OFFSET):
            return port
    pytest.fail("no free port pair for Temporal and its UI")


def _environment(data_dir: Path, **overrides: str) -> dict[str, str]:
    """This environment without any Temporal or port setting of the machine running the tests."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TEMPORAL_")}
    env.pop("PORT", None)
    return {**env, "DATA_DIR": str(data_dir), **overrides}


def _health_ok(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/health", timeout=1) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _wait_for(what: str, ready: Callable[[], bool], process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while not ready():
        if process.poll() is not None:
            pytest.fail(f"methodflow dev exited ({process.returncode}) before {what}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {START_SECONDS} s:\n{log.read_text()}")
        time.sleep(0.1)


@pytest.mark.parametrize("to_group", [False, True], ids=["sigint", "terminal-ctrl-c"])
def test_dev_starts_temporal_worker_and_api_and_stops_them_all_on_sigint(
    tmp_path: Path, to_group: bool
) -> None:
    api_port, temporal_port = _free_port(), _free_temporal_port()
    ui_port = temporal_port + UI_PORT_OFFSET
    data_dir = tmp_path / "data"
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    args = [str(METHODFLOW), "dev", "--port", str(api_port), "--temporal-port", str(temporal_port)]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        # A terminal's Ctrl-C signals its whole foreground process group: the group variant does that.
        process = subprocess.Popen(
            args, stdout=stdout, stderr=stderr, env=_environment(data_dir), start_new_session=to_group
        )
    try:
        _wait_for("GET /health 200", lambda: _health_ok(api_port), process, err)
        _wait_for("URLs on stdout", lambda: "Press Ctrl-C" in out.read_text(), process, err)
        printed = out.read_text()
        assert f"API          http://{HOST}:{api_port}\n" in printed
        assert f"API docs     http://{HOST}:{api_port}/docs\n" in printed
        assert f"Temporal UI  http://{HOST}:{ui_port}\n" in printed
        assert f"Temporal     {HOST}:{temporal_port}\n" in printed
        assert _accepts(temporal_port)
        assert (data_dir / "temporal.db").exists()
        assert (data_dir / "temporal.log").exists()

        if to_group:
            os.killpg(process.pid, signal.SIGINT)
        else:
            process.send_signal(signal.SIGINT)
        assert process.wait(STOP_SECONDS) == 0, err.read_text()
        assert "Traceback" not in err.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # Every child has been waited for: nothing listens any more.
    assert [port for port in (api_port, temporal_port, ui_port) if _accepts(port)] == []
    assert "methodflow dev stopped" in out.read_text()


@pytest.mark.parametrize(
    "command",
    [[str(METHODFLOW), "worker"], [sys.executable, "-m", "worker"]],
    ids=["methodflow-worker", "python-m-worker"],
)
def test_worker_without_a_reachable_temporal_exits_with_a_message(tmp_path: Path, command: list[str]) -> None:
    address = f"{HOST}:{_free_port()}"  # just released: nothing listens there
    finished = subprocess.run(
        command,
        env=_environment(tmp_path, TEMPORAL_ADDRESS=address),
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert finished.returncode == 1
    assert f"error: the worker stopped (Temporal at {address}): Failed client connect" in finished.stderr
    assert "Traceback" not in finished.stderr
