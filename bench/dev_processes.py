"""The runs benchmark's child processes: `methodflow dev` and the baseline worker, and their CPU use.

Both run from the repo root on free loopback ports with the benchmark's DATA_DIR, and are always
stopped on the way out (killed, with their own children, if they do not stop in time).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from worker.dev_server import HOST, free_port

ROOT = Path(__file__).resolve().parents[1]
FUNCTION_MODULE = "bench.run_functions"
OUR_QUEUE = "methodflow-bench"
PLAIN_QUEUE = "methodflow-bench-plain"
UI_PORT_OFFSET = 1000  # `methodflow dev` puts the Temporal UI there
UP_SECONDS = 60
STOP_SECONDS = 45
# Inherited settings that would point the stack elsewhere or change what is measured.
_DROPPED_ENV = ("AUTH_MODE", "USE_JWT", "API_KEY", "STORAGE", "PORT", "DATA_DIR", "FUNCTION_MODULES")


class StackError(RuntimeError):
    """A process of the stack did not come up; the message says which."""


@dataclass
class Stack:
    """`methodflow dev` and the baseline worker, with the addresses they answer on."""

    api_url: str
    temporal_address: str
    dev: subprocess.Popen[bytes]
    plain: subprocess.Popen[bytes] | None = None


def child_env(data_dir: Path) -> dict[str, str]:
    """Our environment without Temporal or auth settings, plus the benchmark's directory and functions."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("TEMPORAL_") and key not in _DROPPED_ENV
    }
    env.update(
        DATA_DIR=str(data_dir),
        FUNCTION_MODULES=FUNCTION_MODULE,
        TEMPORAL_TASK_QUEUE=OUR_QUEUE,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    return env


@contextlib.contextmanager
def running_stack(data_dir: Path, log: IO[bytes]) -> Generator[Stack]:
    """`methodflow dev` (its Temporal dev server, worker and API) and the baseline worker."""
    api_port, temporal_port = free_port(), _temporal_port()
    env = child_env(data_dir)
    command = [str(Path(sys.executable).parent / "methodflow"), "dev", "--port", str(api_port)]
    command += ["--temporal-port", str(temporal_port)]
    dev = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True)  # noqa: S603 -- our own CLI, fixed argv
    stack = Stack(f"http://{HOST}:{api_port}", f"{HOST}:{temporal_port}", dev)
    try:
        _wait_until_ready(stack)
        stack.plain = subprocess.Popen(  # noqa: S603 -- our own interpreter, fixed argv
            [sys.executable, "-m", "bench.plain_workflow", PLAIN_QUEUE],
            cwd=ROOT,
            env={**env, "TEMPORAL_ADDRESS": stack.temporal_address},
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        yield stack
    finally:
        if stack.plain is not None:
            _stop(stack.plain, signal.SIGTERM)
        _stop(dev, signal.SIGINT)


def _temporal_port() -> int:
    """A free port whose UI companion port is free too."""
    for _ in range(50):
        port = free_port()
        if port + UI_PORT_OFFSET < 65536 and _is_free(port + UI_PORT_OFFSET):
            return port
    msg = "no free pair of ports for the Temporal dev server and its UI"
    raise StackError(msg)


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def _wait_until_ready(stack: Stack) -> None:
    deadline = time.monotonic() + UP_SECONDS
    while time.monotonic() < deadline:
        if stack.dev.poll() is not None:
            msg = f"methodflow dev exited with code {stack.dev.returncode}"
            raise StackError(msg)
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{stack.api_url}/ready", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    msg = f"methodflow dev did not answer {stack.api_url}/ready within {UP_SECONDS} s"
    raise StackError(msg)


def _stop(process: subprocess.Popen[bytes], signum: signal.Signals) -> None:
    """Ask `process` to stop; past the deadline, kill its process group (it and its own children)."""
    if process.poll() is None:
        process.send_signal(signum)
    try:
        process.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


MACHINE = "machine"


class CpuMeter:
    """CPU seconds used by each part of the stack and by this process (Linux /proc; else nothing).

    Tells whether the machine was saturated during a phase, and which process spent the time.
    """

    _ROLES = (("start-dev", "temporal"), ("bench.plain_workflow", "plain"), ("uvicorn", "api"))

    def __init__(self, stack: Stack) -> None:
        self.roots = {stack.dev.pid} | ({stack.plain.pid} if stack.plain is not None else set[int]())
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def snapshot(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        if not Path("/proc/self/stat").exists():
            return totals
        for pid, seconds in self._family().items():
            role = self._role(pid)
            totals[role] = totals.get(role, 0.0) + seconds
        own = os.times()
        totals["bench client"] = own.user + own.system
        totals[MACHINE] = self._machine_busy()
        return totals

    def since(self, before: dict[str, float]) -> dict[str, float]:
        return {role: seconds - before.get(role, 0.0) for role, seconds in self.snapshot().items()}

    def _family(self) -> dict[int, float]:
        """CPU seconds of our children and all their descendants, by pid."""
        parents: dict[int, int] = {}
        seconds: dict[int, float] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
                parents[int(entry.name)] = int(fields[1])
                seconds[int(entry.name)] = (int(fields[11]) + int(fields[12])) / self.tick
        family: dict[int, float] = {}
        for pid, used in seconds.items():
            ancestor = pid
            while ancestor > 1 and ancestor not in self.roots:
                ancestor = parents.get(ancestor, 0)
            if ancestor in self.roots:
                family[pid] = used
        return family

    def _machine_busy(self) -> float:
        """CPU seconds every process of the machine used (user, nice, system, irq, softirq, steal)."""
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        busy = [int(value) for index, value in enumerate(fields[:8]) if index not in (3, 4)]
        return sum(busy) / self.tick

    def _role(self, pid: int) -> str:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            return "other"
        if "-m worker.dev_api" in command:  # `methodflow dev`'s API process
            return "api"
        if "-m worker" in command:
            return "worker"
        if " dev " in f"{command} ":
            return "dev cli"
        return next((role for marker, role in self._ROLES if marker in command), "other")


def cpu_line(used: dict[str, float], elapsed: float) -> str:
    """`  cpu s: api 0.3, ... = 2.6; whole machine 4.1 of 5.0` ('' where /proc is missing).

    The whole machine's figure includes other people's work: on a shared machine it explains slow phases.
    """
    ours = {role: seconds for role, seconds in used.items() if role != MACHINE}
    if not ours:
        return ""
    parts = ", ".join(f"{role} {seconds:.1f}" for role, seconds in sorted(ours.items()) if seconds >= 0.05)
    capacity = (os.cpu_count() or 1) * elapsed
    return (
        f"  cpu s: {parts} = {sum(ours.values()):.1f}; "
        f"whole machine {used.get(MACHINE, 0.0):.1f} of {capacity:.1f}"
    )
