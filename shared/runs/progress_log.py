"""A run's progress log: one event per invocation start and end, batch fan-out and state change
(http-api.md §9.5, §9.8). Pure: the workflow gives it its clock.

It is the interpreter's `PipeListener` inside the workflow, and what the progress query serves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.language.library import PipeEntry
from shared.runs.run_states import RunState
from shared.runs.workflow_io import PROGRESS_PAGE_EVENTS, ProgressCounters, ProgressEvent, ProgressView
from shared.runtime.call_site import InvocationPath

_FINISHED_STATUS = {"done": "succeeded", "absent": "succeeded", "skipped": "skipped", "failed": "failed"}


@dataclass(slots=True)
class _Running:
    entry: PipeEntry
    started_at: str
    reused_from: str | None = None  # the run whose memo entry answered it


@dataclass(slots=True)
class _Batch:
    pipe_code: str
    total: int
    done: int = 0
    failed: int = 0
    # Set when a batch run by a batch workflow reports its final counts: it is over, whatever they are.
    counted: bool = False


@dataclass(slots=True)
class ProgressLog:
    """Records events with `now()` timestamps; `view(after)` is the query's answer."""

    run_id: str
    now: Callable[[], str]
    on_state: Callable[[RunState], None] | None = None
    state: RunState = RunState.STARTED
    events: list[ProgressEvent] = field(default_factory=list[ProgressEvent])
    pipes_total: int = 0
    pipes_done: int = 0
    _running: dict[str, _Running] = field(default_factory=dict[str, _Running])
    _batches: dict[str, _Batch] = field(default_factory=dict[str, _Batch])
    _last_batch: str | None = None  # the batch the log counted last

    def set_state(self, state: RunState) -> None:
        if state == self.state:
            return
        previous, self.state = self.state, state
        if self.on_state is not None:
            self.on_state(state)
        self._record(
            "run.state", {"state": state.value, "status": state.value, "previous_state": previous.value}
        )

    # PipeListener -------------------------------------------------------------------------------------

    def pipe_started(self, entry: PipeEntry, path: InvocationPath) -> None:
        if self.state == RunState.STARTED:
            self.set_state(RunState.RUNNING)
        at = self.now()
        wire = path.wire()
        self._running[wire] = _Running(entry, at)
        self.pipes_total += 1
        self._record("pipe.started", {**_identity(entry, wire), "attempt": 1}, at=at)

    def pipe_reused(self, path: InvocationPath, run_id: str) -> None:
        """The memo answered the invocation at `path`: its end names the run that produced it."""
        running = self._running.get(path.wire())
        if running is not None:
            running.reused_from = run_id

    def pipe_finished(self, entry: PipeEntry, path: InvocationPath, outcome: str) -> None:
        wire = path.wire()
        running = self._running.pop(wire, None)
        at = self.now()
        if running is None:  # skipped at its gate: it never started, but it was needed and is done
            self.pipes_total += 1
        self.pipes_done += 1
        status = _FINISHED_STATUS.get(outcome, "succeeded")
        data: dict[str, Any] = {
            **_identity(entry, wire),
            "status": status,
            "started_at": running.started_at if running is not None else None,
            "ended_at": at,
        }
        if running is not None and running.reused_from is not None:
            data["reused_from"] = running.reused_from  # only when set: other events keep their shape
        self._record("pipe.finished", data, at=at)
        self._count_batch_item(path, status)

    def batch_started(self, entry: PipeEntry, path: InvocationPath, total: int) -> None:
        wire = path.wire()
        self._batches[wire] = _Batch(entry.code, total)
        self._record_batch(wire)

    def batch_counted(self, path: InvocationPath, done: int, failed: int) -> None:
        """A batch run by a batch workflow has ended: its final counts, in one event."""
        wire = path.wire()
        batch = self._batches.get(wire)
        if batch is None:
            return
        batch.done, batch.failed, batch.counted = done, failed, True
        self._record_batch(wire)

    # Run end ------------------------------------------------------------------------------------------

    def cancel_running(self) -> None:
        """Mark every invocation still running as canceled (the run was cancelled or timed out)."""
        for wire, running in sorted(self._running.items(), key=lambda item: -item[0].count("/")):
            at = self.now()
            self.pipes_done += 1
            self._record(
                "pipe.finished",
                {
                    **_identity(running.entry, wire),
                    "status": "canceled",
                    "started_at": running.started_at,
                    "ended_at": at,
                },
                at=at,
            )
        self._running.clear()

    def counters(self) -> ProgressCounters:
        current = None
        if self._running:
            # The most recently started invocation still running: the dict keeps start order (timestamps
            # cannot tell, since the invocations of one workflow step share the workflow's clock).
            current = next(reversed(self._running.values())).entry.code
        return ProgressCounters(
            pipes_total=self.pipes_total,
            pipes_done=self.pipes_done,
            current_pipe=current,
            batch=self._batch_counters(),
        )

    def view(self, after: int = 0, limit: int | None = PROGRESS_PAGE_EVENTS) -> ProgressView:
        """The state and counters, with the events after `after`: at most `limit` of them (a page; the
        reader asks again after the last one until it reaches `version`), or all when `limit` is None."""
        start = max(after, 0)
        return ProgressView(
            state=self.state,
            version=len(self.events),
            counters=self.counters(),
            events=self.events[start : start + limit if limit is not None else None],
        )

    # Internals ----------------------------------------------------------------------------------------

    def _batch_counters(self) -> dict[str, Any] | None:
        """The innermost open batch's counts (its `path` names it, so the API can ask its batch workflow
        for live ones); once the run has ended, the batch the log counted last, with its final counts."""
        open_batches = [wire for wire in self._batches if self._is_open(wire)]
        if open_batches:
            wire = max(open_batches, key=lambda open_wire: open_wire.count("/"))
        elif self.state.is_terminal and self._last_batch is not None:
            wire = self._last_batch
        else:
            return None
        return self._batch_data(wire)

    def _is_open(self, wire: str) -> bool:
        batch = self._batches[wire]
        if batch.counted:
            return False  # a batch workflow's batch that has ended: its final counts are in
        if wire in self._running or _is_inline(wire, self._running):
            return True
        # A batch run by a batch workflow runs no item in this log: it is open from its fan-out until its
        # final counts while the pipe around it runs (a `batch_over` step's path is its sequence's step).
        parent = wire.rpartition("/")[0]
        return batch.done + batch.failed < batch.total and parent in self._running

    def _count_batch_item(self, path: InvocationPath, status: str) -> None:
        segments = path.segments
        if len(segments) < 2 or not segments[-1].startswith("item_"):
            return
        batch_wire = InvocationPath(segments[:-1]).wire()
        batch = self._batches.get(batch_wire)
        if batch is None:
            return
        if status == "failed":
            batch.failed += 1
        else:
            batch.done += 1
        self._record_batch(batch_wire)

    def _record_batch(self, wire: str) -> None:
        self._last_batch = wire
        self._record("batch.progress", self._batch_data(wire))

    def _batch_data(self, wire: str) -> dict[str, Any]:
        batch = self._batches[wire]
        settled = batch.done + batch.failed
        return {
            "path": wire,
            "pipe_code": batch.pipe_code,
            "total": batch.total,
            "done": batch.done,
            "running": max(0, min(batch.total - settled, self._running_items(wire))),
            "failed": batch.failed,
        }

    def _running_items(self, batch_wire: str) -> int:
        prefix = f"{batch_wire}/item_"
        return sum(1 for wire in self._running if wire.startswith(prefix) and "/" not in wire[len(prefix) :])

    def _record(self, event: str, data: dict[str, Any], *, at: str | None = None) -> None:
        seq = len(self.events) + 1
        self.events.append(
            ProgressEvent(
                seq=seq,
                at=at or self.now(),
                event=event,
                data={"pipeline_run_id": self.run_id, "seq": seq, **data},
            )
        )


def _identity(entry: PipeEntry, wire: str) -> dict[str, Any]:
    return {"path": wire, "pipe_code": entry.code, "pipe_ref": entry.ref, "pipe_type": entry.blueprint.type}


def _is_inline(batch_wire: str, running: dict[str, _Running]) -> bool:
    """An inline batch's path is a step of a running sequence: open while any of its items run."""
    prefix = f"{batch_wire}/item_"
    return any(wire.startswith(prefix) for wire in running)
