"""The benchmark report's figures: each workload's repetitions per side, their medians, and the JSON of
bench/results/latest.json that bench/report_page.py reads (pure: no I/O, no clock).

A side is one system under a workload (`ours`, `reference`, `hand-written`). Each repetition records its
count (requests, runs or items), elapsed seconds, every request's duration, failures, and what the counted
processes spent. The summary of a side is the median over repetitions of requests/s, of each latency
percentile and of CPU seconds per request; peak RSS is the largest over repetitions, by process role.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Literal

SCHEMA_VERSION = 1
LATENCY_SAMPLES = 2000  # kept per side for the chart: evenly spaced over the sorted durations
PERCENTILES = (50, 95, 99)
OURS = "ours"

TargetKind = Literal["ratio_at_least", "p50_ms_at_most"]


@dataclass
class Repetition:
    count: int
    elapsed: float
    durations: list[float] = field(default_factory=list[float])
    failures: int = 0
    cpu_seconds: dict[str, float] = field(default_factory=dict[str, float])
    peak_rss_mib: dict[str, float] = field(default_factory=dict[str, float])

    @property
    def per_second(self) -> float:
        return self.count / self.elapsed if self.elapsed else 0.0

    def percentile_ms(self, percent: int) -> float | None:
        if len(self.durations) < 2:
            return None
        return statistics.quantiles(self.durations, n=100, method="inclusive")[percent - 1] * 1000

    def cpu_per_request(self) -> float | None:
        return sum(self.cpu_seconds.values()) / self.count if self.cpu_seconds and self.count else None


@dataclass
class Side:
    name: str
    counted: tuple[str, ...]  # the process roles whose CPU and RSS are counted
    repetitions: list[Repetition] = field(default_factory=list[Repetition])
    failure_examples: list[str] = field(default_factory=list[str])

    def summary(self) -> dict[str, Any]:
        reps = self.repetitions
        durations = sorted(duration for rep in reps for duration in rep.durations)
        peaks: dict[str, float] = {}
        for rep in reps:
            for role, mib in rep.peak_rss_mib.items():
                peaks[role] = round(max(peaks.get(role, 0.0), mib), 1)
        return {
            "counted_processes": list(self.counted),
            "repetitions": len(reps),
            "count": sum(rep.count for rep in reps),
            "failures": sum(rep.failures for rep in reps),
            "failure_examples": self.failure_examples[:5],
            "per_second": _median([rep.per_second for rep in reps]),
            **{
                f"p{percent}_ms": _median([rep.percentile_ms(percent) for rep in reps])
                for percent in PERCENTILES
            },
            "cpu_seconds_per_request": _median([rep.cpu_per_request() for rep in reps], digits=5),
            "peak_rss_mib": peaks,
            "each_repetition": [
                {
                    "count": rep.count,
                    "elapsed_s": round(rep.elapsed, 3),
                    "per_second": round(rep.per_second, 2),
                    **{f"p{percent}_ms": _rounded(rep.percentile_ms(percent)) for percent in PERCENTILES},
                    "cpu_seconds": {role: round(seconds, 3) for role, seconds in rep.cpu_seconds.items()},
                    "failures": rep.failures,
                }
                for rep in reps
            ],
            "latencies_ms": [round(value * 1000, 3) for value in _spread(durations, LATENCY_SAMPLES)],
        }


@dataclass
class Workload:
    key: str
    title: str
    concurrency: int
    unit: str  # what one counted thing is: "request", "run", "item"
    sides: list[Side]
    baseline: str | None = None  # the side ours is compared with
    target_kind: TargetKind | None = None
    target_value: float | None = None
    note: str = ""

    def side(self, name: str) -> Side:
        return next(side for side in self.sides if side.name == name)

    def to_json(self) -> dict[str, Any]:
        sides = {side.name: side.summary() for side in self.sides}
        ratio = _ratio(sides, self.baseline)
        return {
            "key": self.key,
            "title": self.title,
            "concurrency": self.concurrency,
            "unit": self.unit,
            "note": self.note,
            "baseline": self.baseline,
            "sides": sides,
            "ratio_per_second": ratio,
            "target": None
            if self.target_kind is None
            else {"kind": self.target_kind, "value": self.target_value},
            "target_met": self._met(sides, ratio),
        }

    def _met(self, sides: dict[str, dict[str, Any]], ratio: float | None) -> bool | None:
        if self.target_kind == "ratio_at_least" and ratio is not None and self.target_value is not None:
            return ratio >= self.target_value
        p50 = sides.get(OURS, {}).get("p50_ms")
        if self.target_kind == "p50_ms_at_most" and p50 is not None and self.target_value is not None:
            return bool(p50 <= self.target_value)
        return None


def report_json(
    *,
    mode: str,
    machine: dict[str, Any],
    method: dict[str, Any],
    workloads: list[Workload],
    wall_seconds: float,
) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "mode": mode,
        "machine": machine,
        "method": method,
        "wall_seconds": round(wall_seconds, 1),
        "workloads": [workload.to_json() for workload in workloads],
    }


def _ratio(sides: dict[str, dict[str, Any]], baseline: str | None) -> float | None:
    if baseline is None or OURS not in sides or baseline not in sides:
        return None
    ours, other = sides[OURS]["per_second"], sides[baseline]["per_second"]
    return round(ours / other, 3) if ours and other else None


def _median(values: list[float | None], digits: int = 2) -> float | None:
    known = [value for value in values if value is not None]
    return round(statistics.median(known), digits) if known else None


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _spread(values: list[float], most: int) -> list[float]:
    """At most `most` of the sorted `values`, evenly spaced, so the distribution keeps its shape."""
    if len(values) <= most:
        return values
    step = (len(values) - 1) / (most - 1)
    return [values[round(index * step)] for index in range(most)]
