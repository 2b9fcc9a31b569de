"""How `methodflow`'s plain (not `--json`) answers read: a run's status lines, its main output, the runs
table, callback deliveries, and the line a run that did not complete ends with.

The runs table is drawn by rich, which leaves colours out when stdout is no terminal or `NO_COLOR` is set.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

from client.models import Deliveries, RunStatus, RunSummary

# Wide enough that a pipe of runs (`methodflow runs | grep ...`) keeps each run on one line.
PIPED_TABLE_WIDTH = 200


def main_output_text(main: Any, pretty: bool) -> str:
    """The main output as `methodflow run` prints it: compact JSON, or with `pretty` a lone text as
    itself and anything else indented."""
    if pretty:
        if isinstance(main, dict):
            fields = cast("dict[str, Any]", main)
            if set(fields) == {"text"}:
                return str(fields["text"])
        return json.dumps(main, indent=2, ensure_ascii=False)
    return json.dumps(main, ensure_ascii=False)


def on_screen(text: str, run_id: str, max_chars: int = 1200) -> str:
    """A result as `watch` leaves it on a terminal: whole when short, else its start and how to read it
    all (a 10,000-item batch's output would scroll the run's last frame away). Piped, `watch` prints it
    whole."""
    if len(text) <= max_chars:
        return text
    return f"{text[:max_chars]}…\n({len(text):,} characters: methodflow results {run_id} prints them all)"


def status_lines(status: RunStatus) -> str:
    lines = [
        f"run:      {status.pipeline_run_id}",
        f"state:    {status.state}",
        f"pipe:     {status.pipe_code or '-'}",
        f"created:  {status.created_at or '-'}",
        f"finished: {status.finished_at or '-'}",
    ]
    if status.error:
        lines.append(f"error:    {_problem_text(status.error)}")
    return "\n".join(lines)


def ended_badly_line(status: RunStatus) -> str:
    """`error: the run <id> ended FAILED: <code>: <detail>` (CANCELLED, or not ended, alike)."""
    why = f": {_problem_text(status.error)}" if status.error else ""
    return f"error: the run {status.pipeline_run_id} ended {status.state}{why}"


def delivery_lines(deliveries: Deliveries) -> str:
    if not deliveries.items:
        return f"no callback for the run {deliveries.pipeline_run_id}"
    lines: list[str] = []
    for item in deliveries.items:
        attempts = cast("list[Any]", item.get("attempts") or [])
        lines.append(f"{item.get('state', '?'):<10} {len(attempts)} attempt(s)  {item.get('url', '?')}")
    return "\n".join(lines)


def print_runs_table(runs: Sequence[RunSummary]) -> None:
    """The runs as a rich table on stdout; a line saying so when there are none."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=PIPED_TABLE_WIDTH)
    if not runs:
        console.print("no run")
        return
    table = Table("id", "state", "pipe", "created", "finished", box=None, pad_edge=False, header_style="bold")
    for run in runs:
        table.add_row(
            run.pipeline_run_id,
            run.state,
            run.pipe_code or "-",
            _instant(run.created_at),
            _instant(run.finished_at),
        )
    console.print(table, overflow="ignore", crop=False)


def _instant(value: str | None) -> str:
    """`2026-12-03T12:00:01.123456Z` as `2026-12-03 12:00:01`: seconds are enough in a table."""
    if not value:
        return "-"
    return value.replace("T", " ")[:19]


def _problem_text(problem: dict[str, Any]) -> str:
    code = problem.get("code")
    detail = " ".join(str(problem.get("detail") or problem.get("title") or "").split())
    return f"{code}: {detail}" if code else detail
