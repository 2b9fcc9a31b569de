"""The live view of one run on a terminal (`methodflow watch`): a header with the run's state, time, cost
and model calls, then its pipe tree with each pipe's state and time, and a bar per batch with its items
done, pace and ETA (`worker.batch_pace` works the pace out). Pure: no I/O, no clock (the watcher passes
the time in).

The tree comes from `/v1/runs/{id}/progress` `invocations` (http-api.md §9.5): a `path` is the entry
pipe's ref then one segment per controller level, parents before their children. A batch's items are
never listed (a 10,000-item batch stays one row and one bar); a tree longer than the screen keeps its
running and failed rows and their ancestors first, then says how many rows it left out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from worker.batch_pace import BatchPace

# An invocation's `status` (§9.5): its symbol and colour in the tree.
_PIPE_LOOK: dict[str, tuple[str, str]] = {
    "scheduled": ("·", "dim"),
    "running": ("▶", "yellow"),
    "succeeded": ("✔", "green"),
    "failed": ("✖", "red"),
    "skipped": ("↷", "dim"),
    "canceled": ("■", "magenta"),
}
# A run's `state` (§9.1): its colour in the header.
_RUN_COLOUR = {
    "STARTED": "cyan",
    "RUNNING": "yellow",
    "COMPLETED": "green",
    "FAILED": "red",
    "CANCELLED": "magenta",
}
_BAR_WIDTH = 30
DEFAULT_MAX_ROWS = 30


@dataclass(frozen=True)
class RunSnapshot:
    """What one frame of the view shows: the run's status, its latest progress answer (§9.5) and the
    batches' paces, as of `now` (aware)."""

    run_id: str
    state: str
    now: datetime
    created_at: datetime | None = None
    finished_at: datetime | None = None
    invocations: Sequence[Mapping[str, Any]] = ()
    counters: Mapping[str, Any] = field(default_factory=dict[str, Any])
    paces: Mapping[str, BatchPace] = field(default_factory=dict[str, BatchPace])


def batch_counts(
    invocations: Sequence[Mapping[str, Any]], counters: Mapping[str, Any]
) -> dict[str, dict[str, int]]:
    """Each batch invocation's counters (total, done, running, failed) by path. A batch run by a batch
    workflow moves only the run's `counters.batch` (its innermost running batch) while it runs, and its
    invocation's own `batch` at its end: the further along of the two is the batch's count."""
    batches: dict[str, dict[str, int]] = {}
    for invocation in invocations:
        counts = _counts(invocation.get("batch"))
        if counts is not None:
            batches[str(invocation.get("path", ""))] = counts
    live: object = counters.get("batch")
    live_counts = _counts(live)
    if live_counts is not None and isinstance(live, Mapping):
        path = cast("Mapping[str, object]", live).get("path")
        known = batches.get(path) if isinstance(path, str) else None
        if known is not None and _ended(live_counts) >= _ended(known):
            batches[str(path)] = live_counts
    return batches


def _ended(counts: Mapping[str, int]) -> int:
    return counts["done"] + counts["failed"]


def run_view(snapshot: RunSnapshot, *, max_rows: int = DEFAULT_MAX_ROWS) -> RenderableType:
    """The frame: header line, then the pipe tree (at most `max_rows` pipe rows) with the batch bars."""
    return Group(_header(snapshot), _tree(snapshot, max(1, max_rows)))


def parse_instant(value: object) -> datetime | None:
    """An RFC 3339 instant of an answer as an aware datetime; None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def format_duration(seconds: float) -> str:
    """`0.4s`, `12.3s`, `3:05`, `1:02:03`."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def _header(snapshot: RunSnapshot) -> Text:
    header = Text()
    header.append("Run ", style="bold")
    header.append(snapshot.run_id, style="bold cyan")
    header.append("  ")
    header.append(snapshot.state, style=f"bold {_RUN_COLOUR.get(snapshot.state, 'white')}")
    if snapshot.created_at is not None:
        until = snapshot.finished_at or snapshot.now
        header.append(f"  {format_duration((until - snapshot.created_at).total_seconds())}")
    counters = snapshot.counters
    done, total = counters.get("pipes_done"), counters.get("pipes_total")
    if isinstance(done, int) and isinstance(total, int):
        header.append(f"  pipes {done}/{total}", style="dim")
    header.append(f"  model calls {_count(counters.get('model_calls'))}")
    header.append(f"  cost {_cost(counters.get('cost_usd'))}")
    return header


def _count(value: object) -> str:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else "—"


def _cost(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    return f"${value:.4f}" if value < 1 else f"${value:.2f}"


def _tree(snapshot: RunSnapshot, max_rows: int) -> RenderableType:
    rows = _visible_rows(snapshot.invocations)
    batches = batch_counts(snapshot.invocations, snapshot.counters)
    shown = _rows_to_show(rows, max_rows)
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True, overflow="ellipsis")
    grid.add_column(no_wrap=True)
    grid.add_column(justify="right", no_wrap=True)
    for index in shown:
        invocation = rows[index]
        status = str(invocation.get("status", ""))
        symbol, colour = _PIPE_LOOK.get(status, ("?", "white"))
        label = Text("  " * _depth(invocation))
        label.append(f"{symbol} ", style=colour)
        label.append(str(invocation.get("pipe_code", "?")), style="bold" if status == "running" else "")
        label.append(f"  {invocation.get('pipe_type', '')}", style="dim")
        grid.add_row(label, Text(status, style=colour), _elapsed(invocation, snapshot.now))
        path = str(invocation.get("path", ""))
        batch = batches.get(path)
        if batch is not None:
            grid.add_row(*_batch_row(batch, snapshot.paces.get(path), _depth(invocation) + 1, status))
    if not rows:
        grid.add_row(Text("waiting for the first pipe to start…", style="dim"), "", "")
    left_out = len(rows) - len(shown)
    if left_out:
        grid.add_row(Text(f"… {left_out} more", style="dim"), "", "")
    return grid


def _visible_rows(invocations: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The invocations in order, less everything under a batch (its bar stands for its items)."""
    rows: list[Mapping[str, Any]] = []
    batch_paths: list[str] = []
    for invocation in invocations:
        path = str(invocation.get("path", ""))
        if any(path.startswith(f"{batch}/") for batch in batch_paths):
            continue
        rows.append(invocation)
        if invocation.get("pipe_type") == "PipeBatch" or "batch" in invocation:
            batch_paths.append(path)
    return rows


def _rows_to_show(rows: Sequence[Mapping[str, Any]], max_rows: int) -> list[int]:
    """Indexes of the rows to draw, in order: all when they fit; else the running and failed rows and
    their ancestors first, then the others from the top, up to `max_rows`."""
    if len(rows) <= max_rows:
        return list(range(len(rows)))
    paths = [str(row.get("path", "")) for row in rows]
    urgent = {index for index, row in enumerate(rows) if row.get("status") in ("running", "failed")}
    wanted: set[int] = set()
    for index in sorted(urgent):
        ancestors = {other for other, path in enumerate(paths) if paths[index].startswith(f"{path}/")}
        for chosen in sorted(ancestors | {index}):
            if len(wanted) < max_rows:
                wanted.add(chosen)
    for index in range(len(rows)):
        if len(wanted) >= max_rows:
            break
        wanted.add(index)
    return sorted(wanted)


def _depth(invocation: Mapping[str, Any]) -> int:
    return str(invocation.get("path", "")).count("/")


def _elapsed(invocation: Mapping[str, Any], now: datetime) -> Text:
    started = parse_instant(invocation.get("started_at"))
    if started is None:
        return Text("")
    ended = parse_instant(invocation.get("ended_at")) or now
    return Text(format_duration((ended - started).total_seconds()), style="dim")


def _counts(batch: object) -> dict[str, int] | None:
    """A `batch` member's counters (total, done, running, failed) when it is one, else None."""
    if not isinstance(batch, Mapping):
        return None
    members = cast("Mapping[str, object]", batch)  # a JSON object: its keys are strings
    counts: dict[str, int] = {}
    for name in ("total", "done", "running", "failed"):
        value = members.get(name, 0)
        counts[name] = value if isinstance(value, int) else 0
    return counts


def _batch_row(
    batch: Mapping[str, int], pace: BatchPace | None, depth: int, status: str
) -> tuple[Text, Text, Text]:
    """The row under a batch: its bar with the items done and those running or failed, its pace, its ETA."""
    total, done, failed = batch["total"], batch["done"], batch["failed"]
    line = Text("  " * depth)
    line.append_text(_bar(done + failed, total, "green" if status == "succeeded" else "yellow"))
    line.append(f" {done}/{total}", style="bold")
    if batch["running"]:
        line.append(f"  {batch['running']} running", style="dim")
    if failed:
        line.append(f"  {failed} failed", style="red")
    rate = pace.items_per_second if pace is not None else None
    speed = Text(f"{rate:.1f} items/s" if rate is not None else "— items/s", style="dim")
    eta = Text("")
    if status == "running":
        left = pace.eta_seconds if pace is not None else None
        eta = Text(f"ETA {format_duration(left)}" if left is not None else "ETA —", style="dim")
    return line, speed, eta


def _bar(ended: int, total: int, colour: str) -> Text:
    """A bar `_BAR_WIDTH` cells wide, filled in proportion of the items ended (succeeded, skipped or failed)."""
    filled = _BAR_WIDTH if total <= 0 else min(_BAR_WIDTH, _BAR_WIDTH * ended // total)
    bar = Text("━" * filled, style=colour)
    bar.append("━" * (_BAR_WIDTH - filled), style="grey23")
    return bar
