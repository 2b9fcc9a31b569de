"""The live run view's frames (`worker.run_view`), rendered to text on a recording console: the pipe tree
with states and times, one bar per batch instead of its items, the header's state, cost and model calls,
the cap on rows; and the pace arithmetic behind items/s and ETA.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console

from worker.batch_pace import BatchPace, PaceKeeper
from worker.run_view import (
    RunSnapshot,
    batch_counts,
    format_duration,
    parse_instant,
    run_view,
)

NOW = datetime(2026, 12, 3, 12, 0, 30, tzinfo=UTC)
ROOT = "filings.review_filings"


def _at(seconds_before_now: float) -> str:
    return (NOW - timedelta(seconds=seconds_before_now)).isoformat().replace("+00:00", "Z")


def _invocation(path: str, code: str, kind: str, status: str, **members: Any) -> dict[str, Any]:
    return {
        "path": path,
        "pipe_code": code,
        "pipe_ref": f"filings.{code}",
        "pipe_type": kind,
        "status": status,
        "started_at": None,
        "ended_at": None,
        **members,
    }


def _render(snapshot: RunSnapshot, max_rows: int = 30) -> str:
    console = Console(record=True, width=100, color_system=None)
    console.print(run_view(snapshot, max_rows=max_rows))
    return console.export_text()


def _snapshot(
    invocations: list[dict[str, Any]],
    *,
    state: str = "RUNNING",
    counters: Mapping[str, Any] | None = None,
    paces: Mapping[str, BatchPace] | None = None,
) -> RunSnapshot:
    return RunSnapshot(
        run_id="run-order-4242",
        state=state,
        now=NOW,
        created_at=NOW - timedelta(seconds=75),
        invocations=invocations,
        counters=counters or {},
        paces=paces or {},
    )


def _line_with(text: str, needle: str) -> str:
    return next(line for line in text.splitlines() if needle in line)


def _review(batch: dict[str, int], items: int = 3) -> list[dict[str, Any]]:
    """A sequence whose second step is a running batch, with some of its items listed as invocations."""
    return [
        _invocation(ROOT, "review_filings", "PipeSequence", "running", started_at=_at(20), step_count=3),
        _invocation(
            f"{ROOT}/step_1",
            "extract_filing",
            "PipeExtract",
            "succeeded",
            started_at=_at(20),
            ended_at=_at(17.5),
        ),
        _invocation(
            f"{ROOT}/step_2", "summarize_all", "PipeBatch", "running", started_at=_at(17), batch=batch
        ),
        *(
            _invocation(f"{ROOT}/step_2/item_{n}", "summarize_one", "PipeLLM", "running", started_at=_at(1))
            for n in range(1, items + 1)
        ),
    ]


def test_the_tree_shows_each_pipe_indented_under_its_parent_with_its_state_and_time() -> None:
    text = _render(_snapshot(_review({"total": 3, "done": 1, "running": 2, "failed": 0})))

    root, extract, batch = (
        _line_with(text, code) for code in ("review_filings", "extract_filing", "summarize_all")
    )
    assert re.search(r"^▶ review_filings\s+PipeSequence\s+running\s+20\.0s$", root.rstrip()), root
    assert re.search(r"^  ✔ extract_filing\s+PipeExtract\s+succeeded\s+2\.5s$", extract.rstrip()), extract
    assert re.search(r"^  ▶ summarize_all\s+PipeBatch\s+running\s+17\.0s$", batch.rstrip()), batch


def test_a_batch_is_one_row_and_a_bar_with_its_counts_pace_and_eta_never_its_items() -> None:
    batch = {"total": 200, "done": 120, "running": 8, "failed": 2}
    paces = {f"{ROOT}/step_2": BatchPace(items_per_second=20.0, eta_seconds=3.9)}
    text = _render(_snapshot(_review(batch, items=8), paces=paces))

    assert "summarize_one" not in text
    bar = _line_with(text, "/200")
    assert re.search(r"^    ━+ 120/200  8 running  2 failed\s+20\.0 items/s\s+ETA 3\.9s$", bar.rstrip()), bar


def test_a_batch_without_a_pace_yet_says_so() -> None:
    text = _render(_snapshot(_review({"total": 200, "done": 0, "running": 32, "failed": 0})))

    bar = _line_with(text, "0/200")
    assert "— items/s" in bar
    assert "ETA —" in bar


def test_an_ended_batch_shows_its_final_count_and_no_eta() -> None:
    invocations = [
        _invocation(
            ROOT,
            "summarize_all",
            "PipeBatch",
            "succeeded",
            started_at=_at(9),
            ended_at=_at(1),
            batch={"total": 200, "done": 200, "running": 0, "failed": 0},
        )
    ]
    paces = {ROOT: BatchPace(items_per_second=25.0, eta_seconds=0.0)}
    text = _render(_snapshot(invocations, state="COMPLETED", paces=paces))

    assert "200/200" in text
    assert "ETA" not in text


def test_the_run_counters_batch_moves_the_bar_when_it_is_further_along_than_the_invocation() -> None:
    # A batch workflow updates `counters.batch` while it runs and its invocation's `batch` only at its end.
    invocations = _review({"total": 200, "done": 0, "running": 0, "failed": 0})
    counters = {
        "batch": {
            "path": f"{ROOT}/step_2",
            "pipe_code": "summarize_all",
            "total": 200,
            "done": 120,
            "running": 40,
        }
    }

    assert batch_counts(invocations, counters) == {
        f"{ROOT}/step_2": {"total": 200, "done": 120, "running": 40, "failed": 0}
    }
    assert "120/200  40 running" in _render(_snapshot(invocations, counters=counters))
    behind = {"batch": {**counters["batch"], "done": 0, "running": 0}}
    invocations[2]["batch"] = {"total": 200, "done": 200, "running": 0, "failed": 0}
    assert batch_counts(invocations, behind)[f"{ROOT}/step_2"]["done"] == 200


def test_the_header_shows_the_run_state_time_pipes_model_calls_and_cost() -> None:
    counters = {"pipes_total": 9, "pipes_done": 4, "model_calls": 3, "cost_usd": 0.0123}
    header = _render(_snapshot([], counters=counters)).splitlines()[0]

    assert header.split() == [
        "Run", "run-order-4242", "RUNNING", "1:15", "pipes", "4/9", "model", "calls", "3", "cost", "$0.0123"
    ]  # fmt: skip


def test_the_header_shows_a_dash_for_cost_and_model_calls_the_service_does_not_send() -> None:
    for counters in ({}, {"cost_usd": None, "model_calls": None}):
        header = _render(_snapshot([], counters=counters)).splitlines()[0]
        assert "model calls —" in header
        assert "cost —" in header


def test_an_ended_run_shows_its_time_to_its_end() -> None:
    snapshot = RunSnapshot(
        run_id="run-order-4242",
        state="COMPLETED",
        now=NOW,
        created_at=NOW - timedelta(seconds=75),
        finished_at=NOW - timedelta(seconds=70),
        counters={"cost_usd": 12.5},
    )
    header = _render(snapshot).splitlines()[0]

    assert "COMPLETED  5.0s" in header
    assert "cost $12.50" in header


def test_a_run_without_invocations_yet_says_it_waits() -> None:
    assert "waiting for the first pipe to start" in _render(_snapshot([], state="STARTED"))


def test_a_long_tree_is_cut_at_the_row_cap_and_keeps_the_running_step_and_its_parent() -> None:
    steps = [
        _invocation(f"{ROOT}/step_{n}", f"step_{n}", "PipeFunc", "running" if n == 45 else "succeeded")
        for n in range(1, 51)
    ]
    invocations = [_invocation(ROOT, "review_filings", "PipeSequence", "running"), *steps]
    text = _render(_snapshot(invocations), max_rows=30)

    rows = [line for line in text.splitlines() if re.search(r"[✔▶]", line)]
    assert len(rows) == 30
    assert rows[0].lstrip().startswith("▶ review_filings")
    assert any("step_45" in row for row in rows)
    assert "step_50" not in text
    assert "… 21 more" in text


def test_a_tree_that_fits_is_not_cut() -> None:
    invocations = [
        _invocation(f"{ROOT}/step_{n}", f"step_{n}", "PipeFunc", "succeeded") for n in range(1, 31)
    ]
    text = _render(_snapshot(invocations), max_rows=30)

    assert "step_30" in text
    assert "more" not in text


def test_the_pace_is_the_items_ended_per_second_between_two_reads_and_gives_the_eta() -> None:
    keeper = PaceKeeper()
    counts = {"total": 200, "done": 0, "running": 40, "failed": 0}

    assert keeper.observe({"b": counts}, at=100.0) == {"b": BatchPace()}
    pace = keeper.observe({"b": {**counts, "done": 36, "failed": 4}}, at=102.0)["b"]
    assert pace == BatchPace(items_per_second=20.0, eta_seconds=8.0)
    # A read with nothing new keeps the pace over the whole span.
    assert keeper.observe({"b": {**counts, "done": 36, "failed": 4}}, at=104.0)["b"].items_per_second == 10.0


def test_the_pace_forgets_reads_older_than_its_window() -> None:
    keeper = PaceKeeper(window=10.0)
    counts = {"total": 200, "running": 0, "failed": 0}
    keeper.observe({"b": {**counts, "done": 0}}, at=0.0)
    keeper.observe({"b": {**counts, "done": 150}}, at=5.0)

    pace = keeper.observe({"b": {**counts, "done": 160}}, at=20.0)["b"]

    assert pace.items_per_second == 10 / 15  # from the read at 5 s, the one older than 0 s dropped
    assert pace.eta_seconds == 40 / (10 / 15)


def test_durations_read_as_seconds_then_minutes_then_hours() -> None:
    assert [format_duration(s) for s in (0.04, 12.34, 65, 3723, -1)] == [
        "0.0s",
        "12.3s",
        "1:05",
        "1:02:03",
        "0.0s",
    ]


def test_an_instant_that_is_absent_or_unreadable_is_none() -> None:
    assert parse_instant("2026-12-03T12:00:00.5Z") == datetime(2026, 12, 3, 12, 0, 0, 500000, tzinfo=UTC)
    assert [parse_instant(value) for value in (None, "", "yesterday", 17)] == [None, None, None, None]
