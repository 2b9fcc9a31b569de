"""Workers as their own processes (`python -m worker`), for tests that kill them with SIGKILL.

Each worker's output goes to a log file that is written to stderr when the test fails; every worker
still alive is killed when the `worker_processes` block ends, however it ends.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Generator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# What `worker.runner.run_worker` logs once its client is connected and the worker built.
POLLING_LINE = "worker polling task queue"
REPO_ROOT = Path(__file__).resolve().parents[2]


def worker_environment(
    temporal_address: str, task_queue: str, data_dir: Path, **settings: str
) -> dict[str, str]:
    """This process's environment plus the worker settings: same Temporal, queue and data dir as the API."""
    return {
        **os.environ,
        "TEMPORAL_ADDRESS": temporal_address,
        "TEMPORAL_TASK_QUEUE": task_queue,
        "DATA_DIR": str(data_dir),
        "LOG_LEVEL": "INFO",
        **settings,
    }


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    log_path: Path

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, no chance to report in-flight activities; then reap it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    async def wait_polling(self, within: float = 60) -> None:
        """Wait until the worker says it polls; fail with its log if it exits or stays silent."""
        deadline = asyncio.get_running_loop().time() + within
        while POLLING_LINE not in self.log():
            if self.process.poll() is not None:
                msg = f"worker exited with {self.process.returncode} before polling:\n{self.log()}"
                raise AssertionError(msg)
            if asyncio.get_running_loop().time() > deadline:
                msg = f"worker did not poll within {within} s:\n{self.log()}"
                raise AssertionError(msg)
            await asyncio.sleep(0.05)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


class WorkerProcesses:
    """Starts workers sharing one environment and keeps them all, to kill the survivors at the end."""

    def __init__(self, env: Mapping[str, str], log_dir: Path) -> None:
        self.env = dict(env)
        self.log_dir = log_dir
        self.started: list[WorkerProcess] = []

    def start(self) -> WorkerProcess:
        log_path = self.log_dir / f"worker-{len(self.started) + 1}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "worker"],
                cwd=REPO_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        worker = WorkerProcess(process, log_path)
        self.started.append(worker)
        return worker

    def kill_all(self) -> None:
        for worker in self.started:
            worker.kill()

    def logs(self) -> str:
        return "".join(
            f"\n----- {worker.log_path.name} (exit {worker.process.returncode}) -----\n{worker.log()}"
            for worker in self.started
        )


@contextmanager
def worker_processes(env: Mapping[str, str], log_dir: Path) -> Generator[WorkerProcesses]:
    """Worker processes for one test: killed at the end; their logs go to stderr if the block fails."""
    workers = WorkerProcesses(env, log_dir)
    try:
        yield workers
    except BaseException:
        workers.kill_all()
        sys.stderr.write(workers.logs())
        raise
    finally:
        workers.kill_all()
