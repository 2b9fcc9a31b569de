"""The batch benchmark's worker processes: N of one command on one task queue, their RSS, their stop.

Each process logs to its own file under the benchmark's directory; a phase waits until every process
says it polls, reads each one's resident memory from /proc (Linux; else nothing), and stops them all on
the way out (SIGTERM, then SIGKILL of its process group past the deadline).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.dev_processes import ROOT, StackError

UP_SECONDS = 60
STOP_SECONDS = 45
KIB = 1024


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def memory_kib(self, field: str) -> int | None:
        """A `/proc/<pid>/status` figure in KiB: `VmRSS` (resident now), `VmHWM` (the peak so far)."""
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith(f"{field}:"):
                    return int(line.split()[1])
        return None


@dataclass
class WorkerGroup:
    """The processes of one phase, and their resident memory when they came up."""

    workers: list[WorkerProcess]
    rss_at_start_kib: list[int]

    def peak_rss_kib(self) -> list[int]:
        """Each process's peak resident memory since it started (read before they stop)."""
        return [kib for worker in self.workers if (kib := worker.memory_kib("VmHWM")) is not None]

    def logs_tail(self, chars: int = 3000) -> str:
        return "".join(f"\n--- {w.log_path.name} ---\n{w.log()[-chars:]}" for w in self.workers)


@contextlib.contextmanager
def worker_group(
    command: Sequence[str], count: int, env: Mapping[str, str], log_dir: Path, ready_line: str
) -> Generator[WorkerGroup]:
    """`count` processes of `command`, each up (its log holds `ready_line`) before this yields."""
    workers: list[WorkerProcess] = []
    try:
        for _ in range(count):
            log_path = log_dir / f"worker-{time.monotonic_ns()}.log"
            with log_path.open("wb") as log:
                process = subprocess.Popen(  # noqa: S603 -- our own interpreter, fixed argv
                    list(command),
                    cwd=ROOT,
                    env=dict(env),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            workers.append(WorkerProcess(process, log_path))
        for worker in workers:
            _wait_ready(worker, ready_line)
        rss = [kib for worker in workers if (kib := worker.memory_kib("VmRSS")) is not None]
        yield WorkerGroup(workers, rss)
    finally:
        for worker in workers:
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
        for worker in workers:
            _reap(worker.process)


def _wait_ready(worker: WorkerProcess, ready_line: str) -> None:
    deadline = time.monotonic() + UP_SECONDS
    while ready_line not in worker.log():
        if worker.process.poll() is not None:
            msg = f"a worker exited with {worker.process.returncode} before polling:\n{worker.log()[-3000:]}"
            raise StackError(msg)
        if time.monotonic() > deadline:
            msg = f"a worker did not poll within {UP_SECONDS} s:\n{worker.log()[-3000:]}"
            raise StackError(msg)
        time.sleep(0.05)


def _reap(process: subprocess.Popen[bytes]) -> None:
    try:
        process.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def mib(kib: int) -> float:
    return kib / KIB
