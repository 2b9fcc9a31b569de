"""The report's chart: each workload's latency distribution, a box per side (ours first), log scale.

Drawn from the JSON bench/report.py writes (its `latencies_ms` samples), with matplotlib's file-only
backend: no display is needed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter, ScalarFormatter

COLOURS = {"ours": "#2a7ab0", "reference": "#c0504d", "hand-written": "#8a8a8a"}
COLUMNS = 3


def write_chart(report: dict[str, Any], path: Path) -> bool:
    """Draw the chart into `path` (PNG); false when no workload has latencies to show."""
    shown = [w for w in report["workloads"] if any(len(s["latencies_ms"]) > 1 for s in w["sides"].values())]
    if not shown:
        return False
    rows = math.ceil(len(shown) / COLUMNS)
    figure, axes = plt.subplots(rows, COLUMNS, figsize=(4.2 * COLUMNS, 3.4 * rows), squeeze=False)
    for axis, workload in zip(axes.flat, shown, strict=False):
        sides = [(name, side) for name, side in workload["sides"].items() if len(side["latencies_ms"]) > 1]
        boxes = axis.boxplot(
            [side["latencies_ms"] for _, side in sides],
            tick_labels=[name for name, _ in sides],
            whis=(1, 99),
            showfliers=False,
            patch_artist=True,
        )
        for patch, (name, _) in zip(boxes["boxes"], sides, strict=True):
            patch.set_facecolor(COLOURS.get(name, "#cccccc"))
        axis.set_yscale("log")
        axis.yaxis.set_major_formatter(ScalarFormatter())  # 200, not 2 x 10^2
        axis.yaxis.set_minor_formatter(NullFormatter())
        axis.set_title(f"{workload['key']} (c{workload['concurrency']})", fontsize=10)
        axis.set_ylabel("ms")
        axis.grid(axis="y", which="both", alpha=0.3)
    for axis in list(axes.flat)[len(shown) :]:
        axis.set_visible(False)
    figure.suptitle(  # pyright: ignore[reportUnknownMemberType] - matplotlib types **kwargs loosely
        f"Latency per request (box: p25-p75, line: p50, whiskers: p1-p99); {report['machine']['date']}, "
        f"{report['mode']} mode",
        fontsize=10,
    )
    figure.tight_layout(rect=(0, 0, 1, 0.97))  # room for the title
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)  # pyright: ignore[reportUnknownMemberType] - as above
    plt.close(figure)
    return True
