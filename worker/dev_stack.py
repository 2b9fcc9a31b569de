"""`methodflow dev`: the whole service on one machine as child processes (Temporal, one worker, the API).

`TEMPORAL_ADDRESS` unset: the embedded Temporal dev server is started too (http-api.md §14). Set: no
Temporal server is started ("connects to that cluster instead and starts nothing else" is read as
nothing else of Temporal's); the worker and API processes still run, both pointed at that address.
Every port is checked before anything starts, and the children end with this process however it ends.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
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

from worker.dev_ports import UI_PORT_OFFSET, PortUnusableError, claim_ports
from worker.dev_server import HOST, DevServer, DevServerError, start_dev_server
from worker.parent_death import end_with_parent

EXIT_STOPPED = 0
EXIT_FAILED = 1
HEALTH_TIMEOUT_SECONDS = 30
# How long the banner waits for the worker's first poll (`/ready` lists no unpolled queue); past it the
# banner prints anyway: runs started meanwhile only wait for the worker.
POLL_WAIT_SECONDS = 30
API_STOP_SECONDS = 10
WORKER_STOP_SECONDS = 30
_POLL_SECONDS = 0.1
# Ctrl-C, `kill` or a service manager, and the terminal closing: each stops the stack in order.
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class DevStackError(RuntimeError):
    """A part of the stack did not start or stopped on its own; the message names it."""


@dataclass
class DevStack:
    """The running children, stopped in reverse order of dependency: API, worker, Temporal."""

    temporal_address: str
    api_listener: socket.socket | None = None
    temporal_log: Path | None = None
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
                hint = self.temporal_log_hint() if self.temporal and process is self.temporal.process else ""
                msg = f"{name} exited unexpectedly (code {code}){hint}"
                raise DevStackError(msg)

    def temporal_log_hint(self) -> str:
        """`; see <log>: <its last line>`: the Temporal dev server writes why it stopped there, not to us."""
        if self.temporal_log is None:
            return ""
        return f"; see {self.temporal_log}: {_last_line(self.temporal_log)}"

    def release_api_port(self) -> None:
        """Close our copy of the API's listening socket (the API process keeps its own)."""
        if self.api_listener is not None:
            self.api_listener.close()
            self.api_listener = None

    def stop(self) -> None:
        self.release_api_port()
        if self.api is not None:
            _stop_process(self.api, API_STOP_SECONDS)
        if self.worker is not None:
            _stop_process(self.worker, WORKER_STOP_SECONDS)
        if self.temporal is not None:
            self.temporal.stop()


def run_dev_stack(
    *, api_port: int, temporal_port: int, temporal_ui_port: int | None = None, data_dir: Path
) -> int:
    """Start the stack, print where it answers, run until SIGINT/SIGTERM/SIGHUP; the exit code.

    `temporal_ui_port` None: the Temporal port + 1000, as the Temporal CLI itself does.
    """
    started = time.monotonic()
    external = os.environ.get("TEMPORAL_ADDRESS") or None
    ui_port = temporal_ui_port if temporal_ui_port is not None else temporal_port + UI_PORT_OFFSET
    stack = DevStack(temporal_address=external or f"{HOST}:{temporal_port}")
    # Two embedded Temporal servers on one database file would corrupt it: one stack per data dir.
    lock = None if external else _lock_data_dir(data_dir)
    if lock is False:
        _say(
            f"error: another methodflow dev already runs on the data dir {data_dir}: its Temporal "
            "database cannot be shared; stop that one, or give this one another DATA_DIR",
            err=True,
        )
        return EXIT_FAILED
    try:
        # Before anything starts: a taken port is named with its option, never found by a child dying.
        stack.api_listener = claim_ports(
            api_port=api_port,
            temporal_ports=None if external else (temporal_port, ui_port),
            ui_port_derived=temporal_ui_port is None,
        )
    except PortUnusableError as exc:
        _say(f"error: {exc}", err=True)
        return EXIT_FAILED
    previous = {signum: signal.getsignal(signum) for signum in _STOP_SIGNALS}

    def _ask_stop(_signum: int, _frame: FrameType | None) -> None:
        stack.stopping.set()

    for signum in previous:
        signal.signal(signum, _ask_stop)
    try:
        _start(stack, external=external, temporal_port=temporal_port, ui_port=ui_port, data_dir=data_dir)
        if not stack.stopping.is_set():
            _print_urls(stack, api_port=api_port, seconds=time.monotonic() - started)
        while not stack.stopping.wait(_POLL_SECONDS):
            stack.check_alive()
    except (DevStackError, DevServerError) as exc:
        _say(f"error: {exc}; stopping the stack", err=True)
        return EXIT_FAILED
    finally:
        stack.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    _say("methodflow dev stopped")
    return EXIT_STOPPED


def _start(
    stack: DevStack, *, external: str | None, temporal_port: int, ui_port: int, data_dir: Path
) -> None:
    # Every child gets SIGTERM from the kernel if this process dies without stopping it (SIGKILL).
    with_us = end_with_parent()
    if external is None:
        data_dir.mkdir(parents=True, exist_ok=True)
        stack.temporal_log = data_dir / "temporal.log"
        with stack.temporal_log.open("ab") as log:
            # The child keeps its own copy of the descriptor; ours can close.
            try:
                stack.temporal = start_dev_server(
                    port=temporal_port,
                    db_file=_temporal_db(data_dir),
                    ui_port=ui_port,
                    log=log,
                    die_with_parent=True,
                )
            except DevServerError as exc:
                msg = f"{exc}{stack.temporal_log_hint()}"
                raise DevStackError(msg) from exc
    env = {**os.environ, "TEMPORAL_ADDRESS": stack.temporal_address}
    # Each child in its own session: Ctrl-C in the terminal reaches only this process, which then
    # stops the children in order (API, then the worker's graceful drain, then Temporal).
    stack.worker = subprocess.Popen(
        [sys.executable, "-m", "worker"], env=env, start_new_session=True, preexec_fn=with_us
    )
    if stack.api_listener is None:
        msg = "the API port was not claimed before the start"
        raise DevStackError(msg)
    fd = stack.api_listener.fileno()
    stack.api = subprocess.Popen(  # noqa: S603 -- our own interpreter, fixed argv
        [sys.executable, "-m", "worker.dev_api", str(fd)],
        env=env,
        pass_fds=(fd,),
        start_new_session=True,
        preexec_fn=with_us,
    )
    api_url = f"http://{HOST}:{stack.api_listener.getsockname()[1]}"
    _wait_for_health(stack, f"{api_url}/health")
    # From here the API alone holds the port: once it ends, the port is free again.
    stack.release_api_port()
    _wait_for_first_poll(stack, f"{api_url}/ready")


def _lock_data_dir(data_dir: Path) -> int | bool:
    """An exclusive lock on the data dir, held by this process until it ends (the kernel drops it even
    after a SIGKILL); False when another process holds it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(data_dir / ".methodflow-dev.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return False
    return descriptor


def _wait_for_first_poll(stack: DevStack, url: str) -> None:
    """Until `/ready` lists no unpolled task queue (the worker polls), so that the banner means a run
    starts at once; a worker slower than `POLL_WAIT_SECONDS` only delays its runs, not the banner."""
    deadline = time.monotonic() + POLL_WAIT_SECONDS
    while time.monotonic() < deadline and not stack.stopping.is_set():
        stack.check_alive()
        with (
            contextlib.suppress(urllib.error.URLError, OSError, ValueError),
            urllib.request.urlopen(url, timeout=2) as answer,  # noqa: S310 -- fixed http URL on loopback
        ):
            if json.loads(answer.read()).get("unpolled_task_queues") == []:
                return
        time.sleep(_POLL_SECONDS)


def _temporal_db(data_dir: Path) -> Path | None:
    """`TEMPORAL_DEV_DB`, else `$DATA_DIR/temporal.db`; set but empty = in memory."""
    configured = os.environ.get("TEMPORAL_DEV_DB")
    if configured is None:
        return data_dir / "temporal.db"
    return Path(configured) if configured else None


def _wait_for_health(stack: DevStack, url: str) -> None:
    """Until the API answers 200. Only our processes hold its listening socket, so the answer is ours."""
    deadline = time.monotonic() + HEALTH_TIMEOUT_SECONDS
    while time.monotonic() < deadline and not stack.stopping.is_set():
        stack.check_alive()
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:  # noqa: S310 -- fixed http URL on loopback
                if answer.status == 200:
                    stack.check_alive()  # and the API still runs after answering
                    return
        except (urllib.error.URLError, OSError):
            pass  # not serving yet
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


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError as exc:
        return f"(unreadable: {exc.strerror or exc})"
    return lines[-1] if lines else "(empty)"


def _say(text: str, *, err: bool = False) -> None:
    """Print, unless the terminal is gone (SIGHUP when it closed): the stop goes on regardless."""
    with contextlib.suppress(OSError):
        typer.echo(text, err=err)


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
    _say("\n".join(lines))
