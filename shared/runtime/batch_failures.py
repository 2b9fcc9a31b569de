"""What becomes of a batch item that fails: by default the run fails naming the item; under the request
option `batch_failures: "collect"` the item is left out of the batch's output and recorded. Pure.

The in-workflow batch (`controllers.py`) applies these rules today; a batch run elsewhere (child
workflows over chunks) applies the same ones, so both answer alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shared.problems.run_errors import failure_error
from shared.runtime.run_failure import FailureCode, PipeRunError


class BatchFailureMode(StrEnum):
    """The request option `batch_failures` (a methodflow extension of the run request)."""

    FAIL = "fail"  # the first failed item fails the run; the other items are cancelled
    COLLECT = "collect"  # failed items are recorded and dropped; the run goes on


# Faults of the run as a whole that an item only happens to meet first: collecting them would hide that
# the run cannot go on (its history or its budget is spent), so they fail the run in either mode.
_RUN_LEVEL_CODES = frozenset(
    {FailureCode.HISTORY_EXHAUSTED, FailureCode.BUDGET_EXCEEDED, FailureCode.TENANT_BUDGET_EXCEEDED}
)


@dataclass(frozen=True, slots=True)
class ItemFailure:
    """One failed item of a batch: the batching pipe, the item's invocation path, its 0-based index."""

    batch_pipe: str
    path: str
    item_index: int
    failure: PipeRunError

    def record(self, pipeline_run_id: str) -> dict[str, Any]:
        """The item's entry in a run's `batch_failures`: its problem shaped as a run's `error` is."""
        problem, _ = failure_error(self.failure, pipeline_run_id=pipeline_run_id)
        return {"pipe": self.batch_pipe, "path": self.path, "item_index": self.item_index, "problem": problem}


def is_collectable(failure: PipeRunError) -> bool:
    """Whether `collect` may record `failure` as its item's alone (false for faults of the whole run)."""
    return failure.code not in _RUN_LEVEL_CODES


def failure_records(failures: Iterable[ItemFailure], *, pipeline_run_id: str) -> list[dict[str, Any]]:
    """The run's `batch_failures` member, in the order the failures were recorded."""
    return [failure.record(pipeline_run_id) for failure in failures]
