"""The memo lookup activity: the memo entries of many operator tasks in one activity (issue 19).

A resumed batch of 10,000 items of which 9,000 completed would otherwise spend 9,000 operator
activities (each scheduled, started, answered from the memo and recorded) to learn what the memo
holds. The workflow gathers the tasks of the items in flight and asks here once (`worker/memo_lookups.py`);
the entries are read in parallel threads, and the answers kept under the payload budget.
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

from temporalio import activity

from shared.language.validator import LibraryUnusable
from shared.runs.memo_io import MemoLookupAnswer, MemoLookupTask
from shared.runs.names import MEMO_LOOKUP_ACTIVITY
from shared.runs.workflow_io import OperatorAnswer, OperatorTask
from shared.storage.blob_store import BlobNotFoundError
from worker.memo_steps import MemoSteps
from worker.method_cache import MethodCache

# Entries read at once: reads are small blob GETs, mostly waiting on the store.
_READERS = 8


class _Unknown:
    """A task whose entry could not be told (its method did not load): its operator activity tells."""


_UNKNOWN = _Unknown()


class MemoLookupActivities:
    """Looks up memo entries with the worker's method cache and memo steps (shared with its operators)."""

    def __init__(self, methods: MethodCache, memo: MemoSteps) -> None:
        self.methods = methods
        self.memo = memo

    @activity.defn(name=MEMO_LOOKUP_ACTIVITY)
    async def memo_lookup(self, task: MemoLookupTask) -> MemoLookupAnswer:
        return await asyncio.to_thread(self._look_up, task)

    def _look_up(self, task: MemoLookupTask) -> MemoLookupAnswer:
        with ThreadPoolExecutor(max_workers=_READERS) as pool:
            found = list(pool.map(self._entry, task.tasks))
        answers: dict[int, OperatorAnswer] = {}
        missing: list[int] = []
        size = 0
        for index, answer in enumerate(found):
            if answer is None:
                missing.append(index)
            elif isinstance(answer, OperatorAnswer):
                answer_size = len(json.dumps(answer.model_dump(mode="json"), ensure_ascii=False).encode())
                if size + answer_size <= task.max_answer_bytes:
                    answers[index] = answer
                    size += answer_size
                # else: over the budget, the task's own operator activity answers from the entry
        return MemoLookupAnswer(answers=answers, missing=missing)

    def _entry(self, task: OperatorTask) -> OperatorAnswer | _Unknown | None:
        """The reusable answer, None when the memo holds none for the task, or unknown."""
        if task.memo is None or task.binding is not None:
            return _UNKNOWN
        try:
            library = self.methods.library(task.method_digest)
        except (BlobNotFoundError, LibraryUnusable):
            return _UNKNOWN
        return self.memo.reused(task, self.memo.key(task, library))
