"""The boundary between the walk and batches run elsewhere: one batch call and the runner that takes it.
Pure.

In a worker, a batch whose branch needs activities, or whose list is long, leaves the workflow it is
met in and runs as a batch workflow over chunk workflows (docs/design/large-batches.md); the walk only
waits for its output. In-process runs have no runner: every batch stays in the walk.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

from shared.language.library import PipeEntry
from shared.runtime.call_site import InvocationPath
from shared.runtime.run_failure import PipeRunError
from shared.runtime.stuff import Stuff
from shared.runtime.working_memory import WorkingMemory


@dataclass(frozen=True, slots=True)
class BatchCall:
    """One batch to run: `callee` once per item of `held` (bound as `item_name`), over `memory`.

    `entry` is the batching pipe (a PipeBatch, or the sequence of a `batch_over` step); `list_name` is
    where `held` sits in `memory`; `concept` is the output concept the batch declares.
    """

    entry: PipeEntry
    callee: PipeEntry
    memory: WorkingMemory
    list_name: str
    held: Stuff
    total: int
    item_name: str
    concept: str
    path: InvocationPath


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """A batch's output list in input order (`{"items": [...]}`, or a stored list's reference, see
    `content_refs.py`), the concept of its items, and its final item counts."""

    content: dict[str, Any]
    concept: str
    done: int
    failed: int


class BatchFailed(Exception):
    """A batch ended by a failed item (`batch_failures: "fail"`): the failure, with the counts so far."""

    def __init__(self, failure: PipeRunError, done: int, failed: int) -> None:
        super().__init__(str(failure))
        self.failure = failure
        self.done = done
        self.failed = failed


class BatchCancelled(asyncio.CancelledError):
    """A batch cancelled with its run (cancel, run timeout), with the counts of the items that ended
    first: a cancellation like any other, that lets the walk record them before it unwinds."""

    def __init__(self, done: int, failed: int) -> None:
        super().__init__(f"the batch was cancelled after {done} items done, {failed} failed")
        self.done = done
        self.failed = failed


class BatchRunner(Protocol):
    """Runs batches outside the walk. A failed item raises `BatchFailed` (its failure names the item, as
    in the walk); a cancel raises `BatchCancelled`; anything else that stops the batch `PipeRunError`."""

    inline_max_items: int

    async def run_batch(self, call: BatchCall) -> BatchOutcome: ...
