"""`methodflow dev`: the whole service on one machine as child processes (Temporal, one worker, the API).

`TEMPORAL_ADDRESS` unset: the embedded Temporal dev server is started too (http-api.md §14). Set: no
Temporal server is started ("connects to that cluster instead and starts nothing else" is read as
nothing else of Temporal's); the worker and API processes still run, both pointed at that address.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import typer

from worker.dev_server import HOST, DevServer, DevServerError, start_dev_server

EXIT_STOPPED = 0
EXIT_FAILED = 1
UI_PORT_OFFSET = 1000
HEALTH_TIMEOUT_SECONDS = 30
API_STOP_SECONDS = 10
WORKER_STOP_SECONDS = 30
_POLL_SECONDS = 0.1


class DevStackError(RuntimeError):
    """A part of the stack did not start or stopped on its own; the message names it."""


@dataclass
class DevStack:
    """The running children, stopped in reverse order of dependency: API, worker, Temporal."""

    temporal_address: str
    temporal: DevServer | None = None
    worker: subprocess.Popen[bytes] | None = None
    api: subprocess.Popen[bytes] | None = None
    stopping: threading.Event = field(default_factory=threading.Event)

    def children(self) -> list[tuple[str, subprocess.Popen[bytes]]]:
        named = [
            ("the API", self.api),
            ("the worker", self.worker),
            ("the Temporal dev server", self.temporal.process if self.temporal else None),
        ]
        return [(name, process) for name, process in named if process is not None]

    def check_alive(self) -> None:
        """Raise naming the first child that has exited (unless a stop was asked for meanwhile)."""
        for name, process in self.children():
            code = process.poll()
            if code is not None and not self.stopping.is_set():
                msg = f"{name} exited unexpectedly (code {code})"
                raise DevStackError(msg)

    def stop(self) -> None:
        if self.api is not None:
            _stop_process(self.api, API_STOP_SECONDS)
        if self.worker is not None:
            _stop_process(self.worker, WORKER_STOP_SECONDS)
        if self.temporal is not None:
            self.temporal.stop()


def run_dev_stack(*, api_port: int, temporal_port: int, data_dir: Path) -> int:
    """Start the stack, print where it answers, run until SIGINT/SIGTERM; the exit code."""
    started = time.monotonic()
    external = os.environ.get("TEMPORAL_ADDRESS") or None
    stack = DevStack(temporal_address=external or f"{HOST}:{temporal_port}")
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}

    def _ask_stop(_signum: int, _frame: FrameType | None) -> None:
        stack.stopping.set()

    for signum in previous:
        signal.signal(signum, _ask_stop)
    try:
        _start(stack, external=external, api_port=api_port, temporal_port=temporal_port, data_dir=data_dir)
        if not stack.stopping.is_set():
            _print_urls(stack, api_port=api_port, seconds=time.monotonic() - started)
        while not stack.stopping.wait(_POLL_SECONDS):
            stack.check_alive()
    except (DevStackError, DevServerError) as exc:
        typer.echo(f"error: {exc}; stopping the stack", err=True)
        return EXIT_FAILED
    finally:
        stack.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    typer.echo("methodflow dev stopped")
    return EXIT_STOPPED


def _start(
    stack: DevStack, *, external: str | None, api_port: int, temporal_port: int, data_dir: Path
) -> None:
    if external is None:
        data_dir.mkdir(parents=True, exist_ok=True)
        with (data_dir / "temporal.log").open("ab") as log:
            # The child keeps its own copy of the descriptor; ours can close.
            stack.temporal = start_dev_server(
                port=temporal_port,
                db_file=_temporal_db(data_dir),
                ui_port=temporal_port + UI_PORT_OFFSET,
                log=log,
            )
    env = {**os.environ, "TEMPORAL_ADDRESS": stack.temporal_address}
    # Each child in its own session: Ctrl-C in the terminal reaches only this process, which then
    # stops the children in order (API, then the worker's graceful drain, then Temporal).
    stack.worker = subprocess.Popen([sys.executable, "-m", "worker"], env=env, start_new_session=True)
    api_args = ["api.main:create_app", "--factory", "--host", HOST, "--port", str(api_port)]
    stack.api = subprocess.Popen(  # noqa: S603 -- our own interpreter, fixed argv
        [sys.executable, "-m", "uvicorn", *api_args], env=env, start_new_session=True
    )
    _wait_for_health(stack, f"http://{HOST}:{api_port}/health")


def _temporal_db(data_dir: Path) -> Path | None:
    """`TEMPORAL_DEV_DB`, else `$DATA_DIR/temporal.db`; set but empty = in memory."""
    configured = os.environ.get("TEMPORAL_DEV_DB")
    if configured is None:
        return data_dir / "temporal.db"
    return Path(configured) if configured else None


def _wait_for_health(stack: DevStack, url: str) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT_SECONDS
    while time.monotonic() < deadline and not stack.stopping.is_set():
        stack.check_alive()
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:  # noqa: S310 -- fixed http URL on loopback
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass  # not listening yet
        time.sleep(_POLL_SECONDS)
    if not stack.stopping.is_set():
        msg = f"the API did not answer {url} within {HEALTH_TIMEOUT_SECONDS} s"
        raise DevStackError(msg)


def _stop_process(process: subprocess.Popen[bytes], timeout: float) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _print_urls(stack: DevStack, *, api_port: int, seconds: float) -> None:
    api = f"http://{HOST}:{api_port}"
    lines = [
        f"methodflow dev is up in {seconds:.1f} s",
        f"  API          {api}",
        f"  API docs     {api}/docs",
    ]
    if stack.temporal is not None and stack.temporal.ui_port is not None:
        lines.append(f"  Temporal UI  http://{HOST}:{stack.temporal.ui_port}")
    lines += [f"  Temporal     {stack.temporal_address}", "Press Ctrl-C to stop."]
    typer.echo("\n".join(lines))
