"""How a pipe is called and how a run is set up: call sites, run options, invocation paths, progress
listeners. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable
from urllib.parse import quote

from shared.language.natives import NATIVE_DOMAIN
from shared.runtime.batch_failures import BatchFailureMode

if TYPE_CHECKING:
    from shared.language.library import PipeEntry
    from shared.runtime.batch_call import BatchRunner
    from shared.runtime.batch_failures import ItemFailure

TEXT = f"{NATIVE_DOMAIN}.Text"
MAX_DEPTH = 20  # the reference's nesting limit
DEFAULT_CONCURRENCY = 8  # the reference's bound on batch fan-out


@dataclass(frozen=True, slots=True)
class CallSite:
    """How a pipe is called: where its output goes and any multiplicity the caller forces."""

    result: str | None = None
    nb_output: int | None = None
    multiple_output: bool | None = None


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Per-run settings. `seed` makes stuff codes and mocks reproducible (the run id in a workflow)."""

    dry_run: bool = False
    dynamic_output_concept: str = TEXT
    max_depth: int = MAX_DEPTH
    concurrency: int = DEFAULT_CONCURRENCY
    seed: str = "methodflow"
    # Awaited before every pipe invocation: the workflow uses it to hand control back to Temporal every
    # few pipes, so a long stretch of in-workflow pipes never holds one workflow task for seconds.
    pace: Callable[[], Awaitable[None]] | None = None
    # What a failed batch item does (`batch_failures`); under COLLECT each one is appended to
    # `failed_items` when given (the workflow reads it at the run's end), else to the interpreter's own.
    batch_failures: BatchFailureMode = BatchFailureMode.FAIL
    failed_items: list[ItemFailure] | None = field(default=None, compare=False, hash=False)
    # Where a batch may run outside the walk (child workflows over chunks, in a worker); None: every
    # batch runs in the walk itself, as in-process runs do.
    batches: BatchRunner | None = field(default=None, compare=False, hash=False)


PATH_SEPARATOR = "/"
DEFAULT_OUTCOME_SEGMENT = "default"


@dataclass(frozen=True, slots=True)
class InvocationPath:
    """The name of one invocation of a pipe in a run (http-api.md §9.5): the entry pipe's ref, then one
    segment per controller level, e.g. `filings.review_filings/step_3/item_2`.

    It holds no counter and no run-scoped id, so the same invocation has the same path in every run of
    the same method, live or dry.
    """

    segments: tuple[str, ...]

    @staticmethod
    def root(pipe_ref: str) -> InvocationPath:
        """The path of the run's entry pipe."""
        return InvocationPath((pipe_ref,))

    @property
    def depth(self) -> int:
        """Controller levels above this invocation (0 for the entry pipe)."""
        return len(self.segments) - 1

    def child(self, segment: str) -> InvocationPath:
        return InvocationPath((*self.segments, segment))

    def step(self, number: int) -> InvocationPath:
        """Step `number` (from 1, binding steps counted) of a sequence."""
        return self.child(f"step_{number}")

    def branch(self, number: int) -> InvocationPath:
        """Branch `number` (from 1, in declaration order) of a parallel."""
        return self.child(f"branch_{number}")

    def item(self, number: int) -> InvocationPath:
        """The run for item `number` (from 1) of a batch's list."""
        return self.child(f"item_{number}")

    def outcome(self, key: str | None) -> InvocationPath:
        """A condition's outcome named by its key, or its default outcome (`None`).

        The key is percent-encoded, as the reference does, so a key holding `/` cannot split a segment.
        """
        if key is None:
            return self.child(DEFAULT_OUTCOME_SEGMENT)
        return self.child(f"outcome_{quote(key, safe='')}")

    def wire(self) -> str:
        return PATH_SEPARATOR.join(self.segments)


class PipeListener(Protocol):
    """Told when each invocation starts and ends, and when a batch knows its item count (progress)."""

    def pipe_started(self, entry: PipeEntry, path: InvocationPath) -> None: ...

    def pipe_finished(self, entry: PipeEntry, path: InvocationPath, outcome: str) -> None: ...

    def batch_started(self, entry: PipeEntry, path: InvocationPath, total: int) -> None: ...

    def batch_counted(self, path: InvocationPath, done: int, failed: int) -> None:
        """The item counts of a batch that ran outside the walk (its items were never seen one by one)."""
        ...


@runtime_checkable
class ReuseListener(Protocol):
    """A listener told, before an invocation ends, that the memo answered it (`reused_from`)."""

    def pipe_reused(self, path: InvocationPath, run_id: str) -> None: ...


_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_case(code: str) -> str:
    """`CrateLabel` → `crate_label`, `JSON` → `json` (the default name of an unnamed output)."""
    return _CAMEL_BOUNDARY.sub("_", code).lower()
