"""Following a run on a terminal (`methodflow watch`, `run --server`, `start --wait`): the live view.

It follows by polling, not by the event stream: `/progress` every `POLL_SECONDS` draws each frame, and
`/status` (every `STATUS_SECONDS`, and at once when the progress says the run ended) says when to stop.
Every frame needs a `/progress` read anyway, so the stream would only save the reads of quiet moments,
and polling survives what breaks a stream (a proxy that buffers it, a server without `/events`, a
reconnect) through the client's own retries. A console that is no terminal gets one line per state
change instead, from `/status` alone; the caller prints the final result either way.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.live import Live

from client import MethodflowClient, RunProgress, RunStatus, WaitTimeout
from worker.batch_pace import PaceKeeper
from worker.run_view import DEFAULT_MAX_ROWS, RunSnapshot, batch_counts, parse_instant, run_view

POLL_SECONDS = 0.3
STATUS_SECONDS = 2.0
QUIET_POLL_SECONDS = 0.5
# The rows the header and the tree's own lines take besides pipe rows, kept free on a short terminal.
_SPARE_LINES = 6
_PROGRESS_ENDED = frozenset({"succeeded", "failed", "canceled"})
_STATE_OF_PROGRESS = {"pending": "STARTED", "running": "RUNNING"}


def watch_run(
    client: MethodflowClient, run_id: str, *, console: Console, within: float = 3600.0
) -> RunStatus:
    """Follow the run until it ends, drawing its live view on `console` when it is a terminal, and return
    its final status. Client errors (`MethodflowError` and its kinds, `WaitTimeout`) propagate."""
    deadline = time.monotonic() + within
    if console.is_terminal:
        return _follow_live(client, run_id, console, deadline, within)
    return _follow_quietly(client, run_id, console, deadline, within)


def _follow_live(
    client: MethodflowClient, run_id: str, console: Console, deadline: float, within: float
) -> RunStatus:
    paces = PaceKeeper()
    max_rows = max(5, min(DEFAULT_MAX_ROWS, console.height - _SPARE_LINES))
    status = client.status(run_id)  # an unknown run fails here, before the screen is touched
    status_read_at = time.monotonic()
    with Live(console=console, auto_refresh=False, transient=False) as live:
        while True:
            progress = client.progress(run_id)
            if progress.status in _PROGRESS_ENDED or time.monotonic() - status_read_at >= STATUS_SECONDS:
                status = client.status(run_id)
                status_read_at = time.monotonic()
            if status.is_terminal:
                progress = client.progress(run_id)  # the final counts, read once the run has ended
            frame = _snapshot(status, progress, paces)
            live.update(run_view(frame, max_rows=max_rows), refresh=True)
            if status.is_terminal:
                return status
            _check_deadline(run_id, status, deadline, within)
            time.sleep(POLL_SECONDS)


def _follow_quietly(
    client: MethodflowClient, run_id: str, console: Console, deadline: float, within: float
) -> RunStatus:
    said: str | None = None
    while True:
        status = client.status(run_id)
        if status.is_terminal:
            return status
        if status.state != said:
            console.print(f"run {run_id}: {status.state}", markup=False, highlight=False)
            said = status.state
        _check_deadline(run_id, status, deadline, within)
        time.sleep(QUIET_POLL_SECONDS)


def _check_deadline(run_id: str, status: RunStatus, deadline: float, within: float) -> None:
    if time.monotonic() > deadline:
        msg = f"the run {run_id} had not ended after {within} s (state {status.state})"
        raise WaitTimeout(msg, problem={"pipeline_run_id": run_id})


def _snapshot(status: RunStatus, progress: RunProgress, paces: PaceKeeper) -> RunSnapshot:
    """One frame's facts: the state from `/status` once ended, else from the fresher `/progress`."""
    extra = progress.model_extra or {}
    counters: dict[str, Any] = extra.get("counters") or status.progress or {}
    state = status.state if status.is_terminal else _STATE_OF_PROGRESS.get(progress.status, status.state)
    return RunSnapshot(
        run_id=status.pipeline_run_id,
        state=state,
        now=datetime.now(UTC),
        created_at=parse_instant(status.created_at),
        finished_at=parse_instant(status.finished_at),
        invocations=progress.invocations,
        counters=counters,
        paces=paces.observe(batch_counts(progress.invocations, counters), time.monotonic()),
    )
