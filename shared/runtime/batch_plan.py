"""The arithmetic of large batches (docs/design/large-batches.md): chunks, the sliding window of chunks in
flight, exact item counters, and the pacing of progress events. Pure: values in, values out.

Every state here is a small frozen model whatever the number of items, so a batch workflow can carry
it across continue-as-new; each change returns a new state, so replaying the same completions in the
same order always yields the same state.
"""

from __future__ import annotations

import hashlib
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

# At most one coalesced batch progress event per this many seconds of workflow time, plus the last.
PROGRESS_EVENT_INTERVAL_SECONDS = 1.0


class _State(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def chunk_count(total_items: int, chunk_items: int) -> int:
    """How many chunks `total_items` items make, `chunk_items` to a chunk (the last may be shorter)."""
    _check_positive(chunk_items, "chunk_items")
    if total_items < 0:
        msg = f"total_items must be at least 0, not {total_items}"
        raise ValueError(msg)
    return -(-total_items // chunk_items)


def chunk_range(index: int, total_items: int, chunk_items: int) -> range:
    """The item indexes (0-based, in input order) of chunk `index`."""
    if not 0 <= index < chunk_count(total_items, chunk_items):
        msg = f"chunk {index} is outside the {chunk_count(total_items, chunk_items)} chunks of this batch"
        raise IndexError(msg)
    start = index * chunk_items
    return range(start, min(start + chunk_items, total_items))


def batch_key(invocation_path: str) -> str:
    """A short, stable name for the batch at `invocation_path`: workflow ids and storage keys use it,
    since a path nests without bound but ids and keys have limits."""
    return "b" + hashlib.sha256(invocation_path.encode("utf-8")).hexdigest()[:24]


class SlidingWindow(_State):
    """Which chunks of a batch to run next: at most `window` in flight, started in index order."""

    total_chunks: int = Field(ge=0)
    window: int = Field(ge=1)
    next_chunk: int = Field(default=0, ge=0)
    in_flight: tuple[int, ...] = ()
    completed: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.next_chunk > self.total_chunks or len(self.in_flight) > self.window:
            msg = "the window holds more chunks than the batch or the window allows"
            raise ValueError(msg)
        if any(not 0 <= chunk < self.next_chunk for chunk in self.in_flight):
            msg = "a chunk in flight was never started"
            raise ValueError(msg)
        if self.completed + len(self.in_flight) != self.next_chunk:
            msg = "started chunks must be either in flight or completed"
            raise ValueError(msg)
        return self

    @property
    def can_start(self) -> bool:
        """Whether a chunk may start now: one is left and the window has room."""
        return self.next_chunk < self.total_chunks and len(self.in_flight) < self.window

    @property
    def is_done(self) -> bool:
        return self.completed == self.total_chunks

    def start(self) -> tuple[int, SlidingWindow]:
        """The chunk to start, and the window with it in flight."""
        if not self.can_start:
            msg = "no chunk may start now"
            raise ValueError(msg)
        chunk = self.next_chunk
        return chunk, self.model_copy(update={"next_chunk": chunk + 1, "in_flight": (*self.in_flight, chunk)})

    def complete(self, chunk: int) -> SlidingWindow:
        """The window once `chunk` has ended (succeeded, or failed with its failures collected)."""
        if chunk not in self.in_flight:
            msg = f"chunk {chunk} is not in flight"
            raise ValueError(msg)
        rest = tuple(other for other in self.in_flight if other != chunk)
        return self.model_copy(update={"in_flight": rest, "completed": self.completed + 1})


def should_continue_as_new(completions_in_this_history: int, per_history: int, window: SlidingWindow) -> bool:
    """Whether a batch workflow should hand over to a fresh history now: it has seen `per_history`
    chunk completions and chunks remain (the last history simply ends)."""
    _check_positive(per_history, "per_history")
    return completions_in_this_history >= per_history and not window.is_done


class BatchCounters(_State):
    """Exact item counts of one batch: `total = pending + in_flight + done + failed` at every moment."""

    total: int = Field(ge=0)
    in_flight: int = Field(default=0, ge=0)
    done: int = Field(default=0, ge=0)
    failed: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _within_total(self) -> Self:
        if self.in_flight + self.done + self.failed > self.total:
            msg = "more items counted than the batch holds"
            raise ValueError(msg)
        return self

    @property
    def pending(self) -> int:
        return self.total - self.in_flight - self.done - self.failed

    def chunk_started(self, items: int) -> BatchCounters:
        if items > self.pending:
            msg = f"{items} items cannot start: {self.pending} are pending"
            raise ValueError(msg)
        return self.model_copy(update={"in_flight": self.in_flight + items})

    def chunk_ended(self, done: int, failed: int) -> BatchCounters:
        """A chunk of `done + failed` items, all in flight until now, has ended."""
        if done < 0 or failed < 0 or done + failed > self.in_flight:
            msg = f"a chunk of {done} done and {failed} failed items cannot end: {self.in_flight} in flight"
            raise ValueError(msg)
        return self.model_copy(
            update={
                "in_flight": self.in_flight - done - failed,
                "done": self.done + done,
                "failed": self.failed + failed,
            }
        )


class EventCoalescer(_State):
    """Paces a batch's progress events: at most one per `interval` seconds, and always the final one.

    Times are workflow time (seconds), so the pacing replays exactly.
    """

    interval: float = Field(default=PROGRESS_EVENT_INTERVAL_SECONDS, gt=0)
    last_emitted_at: float | None = None

    def offer(self, now: float, *, final: bool = False) -> tuple[bool, EventCoalescer]:
        """Whether to emit an event at `now`, and the coalescer after that decision."""
        due = final or self.last_emitted_at is None or now - self.last_emitted_at >= self.interval
        if not due:
            return False, self
        return True, self.model_copy(update={"last_emitted_at": now})


def _check_positive(value: int, name: str) -> None:
    if value < 1:
        msg = f"{name} must be at least 1, not {value}"
        raise ValueError(msg)
