"""How fast a batch goes as a watcher reads it: items ended per second and the time left, from the
counts read over the last few seconds (`methodflow watch`). Pure: the watcher passes its clock in.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class BatchPace:
    """How fast one batch goes: items ended per second, and the seconds left at that pace (None until
    two reads apart in time have been seen, or when nothing has ended in between)."""

    items_per_second: float | None = None
    eta_seconds: float | None = None


@dataclass
class PaceKeeper:
    """Keeps, per batch path, the items ended (done + failed) at each read over the last `window`
    seconds, and derives each batch's pace from the oldest and newest of them. `at` is any monotonic
    clock's reading, in seconds."""

    window: float = 10.0
    _readings: dict[str, deque[tuple[float, int]]] = field(
        default_factory=dict[str, "deque[tuple[float, int]]"]
    )

    def observe(self, batches: Mapping[str, Mapping[str, int]], at: float) -> dict[str, BatchPace]:
        """Record the counters of each batch (by path, as `batch_counts` reads them) at `at`, and answer
        the pace of each."""
        paces: dict[str, BatchPace] = {}
        for path, batch in batches.items():
            ended = batch["done"] + batch["failed"]
            readings = self._readings.setdefault(path, deque())
            readings.append((at, ended))
            while len(readings) > 2 and at - readings[1][0] >= self.window:
                readings.popleft()  # keep one reading at least `window` old, so the span covers it
            paces[path] = _pace(readings, batch["total"] - ended)
        return paces


def _pace(readings: deque[tuple[float, int]], left: int) -> BatchPace:
    (first_at, first_ended), (last_at, last_ended) = readings[0], readings[-1]
    if last_at <= first_at or last_ended <= first_ended:
        return BatchPace()
    rate = (last_ended - first_ended) / (last_at - first_at)
    return BatchPace(items_per_second=rate, eta_seconds=max(0, left) / rate)
