"""What the servers' processes spend during one measurement: CPU seconds and peak resident memory, by role.

A process's role comes from its command line (`api`, `worker`, `temporal`, `reference`...). Linux /proc
only: the CPU seconds are utime + stime of `/proc/<pid>/stat` (every thread), read before and after; the
resident memory is `VmRSS` of `/proc/<pid>/status`, polled while the measurement runs, so the peak is the
measurement's own and not the process's lifetime high-water mark. Elsewhere both come back empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncGenerator, Iterable
from dataclasses import dataclass, field
from pathlib import Path

POLL_SECONDS = 0.2
KIB_PER_MIB = 1024
# Markers in a command line, first match wins: more specific markers come first.
_ROLES = (
    ("pipelex_api.main:app", "reference"),
    ("-m worker.dev_api", "api"),
    ("api.main:create_app", "api"),
    ("start-dev", "temporal"),
    ("bench.plain_workflow", "hand-written worker"),
    ("bench.batch_plain", "hand-written worker"),
    ("bench.callback_receiver", "receiver"),
    ("-m worker", "worker"),
    (" dev ", "dev cli"),
)


def role_of(pid: int) -> str:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "other"
    return next((role for marker, role in _ROLES if marker in f"{command} "), "other")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process, all its threads; None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def family(roots: Iterable[int]) -> list[int]:
    """The root processes and all their descendants alive now."""
    wanted = set(roots)
    parents: dict[int, int] = {}
    with contextlib.suppress(OSError):
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, IndexError, ValueError):
                    parents[int(entry.name)] = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
    members: list[int] = []
    for pid in parents:
        ancestor = pid
        while ancestor > 1 and ancestor not in wanted:
            ancestor = parents.get(ancestor, 0)
        if ancestor in wanted:
            members.append(pid)
    return sorted(members)


@dataclass
class Usage:
    """One measurement's spend: CPU seconds summed by role, the largest process's peak RSS (MiB) by role."""

    cpu_seconds: dict[str, float] = field(default_factory=dict[str, float])
    peak_rss_mib: dict[str, float] = field(default_factory=dict[str, float])


@dataclass(frozen=True)
class ProcessMeter:
    """The processes of one side: the roots whose families it watches, the roles whose spend it counts."""

    roots: tuple[int, ...]
    counted: tuple[str, ...]

    @contextlib.asynccontextmanager
    async def measuring(self) -> AsyncGenerator[Usage]:
        """Fills the yielded `Usage` when the block ends: CPU by difference, RSS by polling meanwhile."""
        usage = Usage()
        pids = [pid for pid in family(self.roots) if role_of(pid) in self.counted]
        roles = {pid: role_of(pid) for pid in pids}
        before = {pid: cpu_seconds(pid) for pid in pids}
        peaks: dict[int, int] = {}
        poller = asyncio.create_task(_poll_rss(pids, peaks))
        try:
            yield usage
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
            _sample_rss(pids, peaks)  # one last sample: a short measurement may end before the first poll
            for pid in pids:
                start, end = before[pid], cpu_seconds(pid)
                if start is not None and end is not None:
                    usage.cpu_seconds[roles[pid]] = usage.cpu_seconds.get(roles[pid], 0.0) + end - start
            for pid, kib in peaks.items():
                mib = kib / KIB_PER_MIB
                usage.peak_rss_mib[roles[pid]] = max(usage.peak_rss_mib.get(roles[pid], 0.0), mib)


async def _poll_rss(pids: list[int], peaks: dict[int, int]) -> None:
    while True:
        _sample_rss(pids, peaks)
        await asyncio.sleep(POLL_SECONDS)


def _sample_rss(pids: list[int], peaks: dict[int, int]) -> None:
    for pid in pids:
        kib = rss_kib(pid)
        if kib is not None:
            peaks[pid] = max(peaks.get(pid, 0), kib)
