"""The workflow's side of the memo lookup: the invocations in flight ask the memo in one activity.

Workflow code (deterministic: it gathers over turns of Temporal's event loop, never over time). Each
operator invocation of a run that may reuse entries waits here first; the first to arrive lets the loop
turn a few times, so that every item of a batch started in the same activation joins it, then one
`memo_lookup` activity answers them all. A hit is the invocation's answer (no operator activity at
all); a task the memo holds nothing for runs with a scope that only writes (its activity does not look
again); anything else (an entry too large for the lookup's answer, a lookup that failed) runs its
operator activity as before, which answers from the memo itself. So the lookup only ever saves work.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from shared.runs.memo_io import MemoLookupAnswer, MemoLookupTask
from shared.runs.names import MEMO_LOOKUP_ACTIVITY
from shared.runs.workflow_io import STEP_PAYLOAD_MAX_BYTES, MemoScope, OperatorAnswer, OperatorTask

# Runs (and chunks) that reuse memo entries and started before the memo lookup activity replay without it.
MEMO_LOOKUPS_PATCH = "memo-lookups"
# Turns of the event loop the first invocation waits for the others of its activation to join: an item
# reaches its operator within a few turns of being started (its pipe's awaits that do not suspend).
_GATHER_TURNS = 8
# One lookup's tasks, and its answers, stay well under the payload limit (its tasks carry their inputs).
_LOOKUP_MAX_BYTES = STEP_PAYLOAD_MAX_BYTES // 2
# What a task carries beside its inputs' contents (names, refs, seed, scopes), counted generously.
_TASK_OVERHEAD_BYTES = 4096
_LOOKUP_TIMEOUT = timedelta(seconds=60)
# A lookup that keeps failing is given up: its invocations then run their operator activities.
_LOOKUP_RETRY = RetryPolicy(maximum_attempts=3, maximum_interval=timedelta(seconds=5))


@dataclass(frozen=True, slots=True)
class Looked:
    """What the memo said of one invocation: its reused answer, or that it holds nothing for it."""

    answer: OperatorAnswer | None = None
    missing: bool = False


@dataclass(slots=True)
class _Asking:
    task: OperatorTask
    size: int
    future: asyncio.Future[Looked]


class MemoLookups:
    """Gathers the memo lookups of one workflow's invocations into as few activities as fit."""

    def __init__(self, memo: MemoScope) -> None:
        # The scope of an invocation the memo holds nothing for: it still writes its entry.
        self.write_only = memo.model_copy(update={"reuse_runs": [], "reuse_tenant": False})
        self._asking: list[_Asking] = []
        self._rounds: set[asyncio.Future[None]] = set()

    async def look_up(self, task: OperatorTask, inputs_size: int) -> Looked:
        """The memo's word on `task` (`inputs_size`: its inputs' contents in bytes, already measured)."""
        future: asyncio.Future[Looked] = asyncio.get_running_loop().create_future()
        if not self._asking:
            round_ = asyncio.ensure_future(self._round())
            self._rounds.add(round_)  # held: a task nobody references may be collected mid-way
            round_.add_done_callback(self._rounds.discard)
        self._asking.append(_Asking(task, inputs_size + _TASK_OVERHEAD_BYTES, future))
        return await future

    async def _round(self) -> None:
        for _ in range(_GATHER_TURNS):
            await asyncio.sleep(0)  # a bare yield to the loop: no timer, no command
        asking, self._asking = self._asking, []
        await asyncio.gather(*(self._ask(group) for group in _groups(asking)))

    async def _ask(self, group: list[_Asking]) -> None:
        try:
            answer = await workflow.execute_activity(
                MEMO_LOOKUP_ACTIVITY,
                MemoLookupTask(tasks=[asking.task for asking in group], max_answer_bytes=_LOOKUP_MAX_BYTES),
                result_type=MemoLookupAnswer,
                start_to_close_timeout=_LOOKUP_TIMEOUT,
                retry_policy=_LOOKUP_RETRY,
                summary=f"memo lookup: {len(group)} invocations",
            )
        except ActivityError:
            answer = MemoLookupAnswer()  # no word on any: each operator activity looks for itself
        except asyncio.CancelledError:
            for asking in group:
                asking.future.cancel()
            raise
        missing = set(answer.missing)
        for index, asking in enumerate(group):
            if (
                not asking.future.done()
            ):  # an invocation cancelled meanwhile (its run, its chunk) waits no more
                asking.future.set_result(Looked(answer.answers.get(index), index in missing))


def _groups(asking: list[_Asking]) -> list[list[_Asking]]:
    """The askings in order, cut so that each lookup's tasks stay under the budget (one at least)."""
    groups: list[list[_Asking]] = []
    size = 0
    for one in asking:
        if not groups or size + one.size > _LOOKUP_MAX_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(one)
        size += one.size
    return groups
