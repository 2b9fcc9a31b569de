"""The last progress each running run reported, for the reads its worker cannot answer now.

A running run's progress is a query its worker answers (api/run_progress.py). With no worker polling
(stopped, crashed, scaled to zero), the query waits out its timeout and answers nothing: a read reported
zero progress for a run that had finished steps, and took over a second. This cache keeps, per run, the
last answer and whether its last query went unanswered. Such a run's reads serve the last answer at once,
marked stale, while one query per run re-asks in the background, at most once per `recheck_interval`;
the first answer ends the staleness.

Kept in the API process, bounded: `max_runs` runs (least recently read dropped first) and `max_events`
events over all of them (the oldest reads' events dropped first: their counters stay). One replica
remembers what it has served; a replica that never read a run has nothing to serve, and says so (stale,
no `as_of`). Not the workflow's memo or search attributes: upserting counters there would add a command
and a history event per step to every run, change recorded histories (the replay tests) and cost
Temporal writes for every reader-less run, to help only the reads made while no worker runs.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.runs.timestamps import rfc3339
from shared.runs.workflow_io import ProgressView

MAX_RUNS = 4096
MAX_EVENTS = 20_000
RECHECK_INTERVAL_SECONDS = 2.0


@dataclass
class KnownProgress:
    """A run's last answer: `counters` (state, counters, version; no events) and `events` (the last
    read of every event, when kept), as of `as_of`; `unanswered_at` (monotonic) once a query went
    unanswered since."""

    counters: ProgressView | None = None
    events: ProgressView | None = None
    as_of: str | None = None
    unanswered_at: float | None = None
    asking: asyncio.Task[None] | None = None


class ProgressCache:
    def __init__(
        self,
        *,
        max_runs: int = MAX_RUNS,
        max_events: int = MAX_EVENTS,
        recheck_interval: float = RECHECK_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._runs: OrderedDict[str, KnownProgress] = OrderedDict()
        self._max_runs = max_runs
        self._max_events = max_events
        self._events = 0
        self._recheck_interval = recheck_interval
        self._clock = clock
        # Reads served the last known progress with no query on their way (tests and operators read it).
        self.reads_without_query = 0

    def get(self, workflow_id: str) -> KnownProgress | None:
        known = self._runs.get(workflow_id)
        if known is not None:
            self._runs.move_to_end(workflow_id)
        return known

    def remember(self, workflow_id: str, view: ProgressView, *, every_event: bool) -> None:
        """A query's answer: `every_event` when `view` holds the run's whole log."""
        known = self._entry(workflow_id)
        known.unanswered_at = None
        if known.counters is not None and view.version < known.counters.version:
            return  # an answer older than one already served (two reads crossing): progress never goes back
        known.counters = view.model_copy(update={"events": []})
        known.as_of = rfc3339(datetime.now(UTC))
        if every_event:
            self._drop_events(known)
            known.events = view
            self._events += len(view.events)
            self._trim_events()

    def note_unanswered(self, workflow_id: str) -> None:
        self._entry(workflow_id).unanswered_at = self._clock()

    def forget(self, workflow_id: str) -> None:
        """The run has ended: its reads no longer need a worker."""
        known = self._runs.pop(workflow_id, None)
        if known is not None:
            self._drop_events(known)

    def ask_in_background(
        self, workflow_id: str, ask: Callable[[], Awaitable[ProgressView | None]], *, every_event: bool
    ) -> None:
        """Re-ask an unanswered run's query off the read's path: one at a time per run, at most once per
        `recheck_interval`; an answer is remembered, a silence noted. Called by a read that serves the
        last known progress instead of asking."""
        self.reads_without_query += 1
        known = self._runs.get(workflow_id)
        if known is None or known.asking is not None:
            return
        if known.unanswered_at is not None and self._clock() - known.unanswered_at < self._recheck_interval:
            return

        async def asking() -> None:
            try:
                view = await ask()
            finally:
                known.asking = None
            if view is None:
                self.note_unanswered(workflow_id)
            else:
                self.remember(workflow_id, view, every_event=every_event)

        known.asking = asyncio.create_task(asking())

    def _entry(self, workflow_id: str) -> KnownProgress:
        known = self.get(workflow_id)
        if known is None:
            known = self._runs[workflow_id] = KnownProgress()
            while len(self._runs) > self._max_runs:
                _, dropped = self._runs.popitem(last=False)
                self._drop_events(dropped)
        return known

    def _drop_events(self, known: KnownProgress) -> None:
        if known.events is not None:
            self._events -= len(known.events.events)
            known.events = None

    def _trim_events(self) -> None:
        for known in self._runs.values():  # least recently read first
            if self._events <= self._max_events:
                return
            self._drop_events(known)
