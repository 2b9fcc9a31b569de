"""The chunk reuse activity: a resumed batch's chunk answered wholly from the memo, stored as its
chunk workflow would have stored it (issue 19, Speed).

A fully reused chunk run as a workflow costs a child workflow, four activities and a walk in the
sandbox, only to copy memo entries into its outputs; a resumed 10,000-item batch has dozens. Here the
same walk runs in the worker with the memo alone (`worker/memo_walk.py`), and the outputs and result
file are written with the chunk workflow's own storage step, so the seal cannot tell the difference.
A chunk the memo cannot wholly answer stores nothing, and its workflow runs it as before.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from temporalio import activity

from shared.language.library import Library
from shared.language.validator import LibraryUnusable
from shared.runs.batch_io import ChunkEnd, ChunkOutputTask
from shared.runs.chunk_reuse_io import REUSE_CHUNK_ACTIVITY, ReuseChunkTask, ReusedChunk
from shared.storage.blob_store import BlobNotFoundError
from shared.storage.item_pages import PAGE_MAX_BYTES, cut_pages, read_manifest, read_range
from shared.storage.run_storage import get_json
from worker.activities.batch_items import BatchActivities
from worker.chunk_memo import RememberedChunk
from worker.memo_steps import MemoSteps
from worker.memo_walk import MemoMiss, walk_from_memo
from worker.method_cache import MethodCache


class ChunkReuseActivities:
    """Answers chunks from the memo with the worker's method cache, memo steps and batch storage."""

    def __init__(self, methods: MethodCache, memo: MemoSteps, batches: BatchActivities) -> None:
        self.methods = methods
        self.memo = memo
        self.batches = batches

    @activity.defn(name=REUSE_CHUNK_ACTIVITY)
    async def reuse_chunk(self, task: ReuseChunkTask) -> ReusedChunk:
        answered = await asyncio.to_thread(self._answer, task)
        if answered is None:
            return ReusedChunk()
        work = task.work
        contents = answered.contents
        parts = list(cut_pages(contents, len(contents) or 1, PAGE_MAX_BYTES)) or [[]]
        for number, part in enumerate(parts):
            last = number == len(parts) - 1
            extra: dict[str, Any] = {}
            if last:
                extra = {
                    "part_counts": [len(each) for each in parts],
                    "done": task.count,
                    "concept": answered.concept,
                    "reused_invocations": answered.invocations,
                    "reused_cost_usd": answered.cost_usd,
                }
            await self.batches.store_chunk_output(
                ChunkOutputTask(
                    out_prefix=work.out_prefix,
                    index=task.index,
                    part=number,
                    outputs=part,
                    last=last,
                    **extra,
                )
            )
        return ReusedChunk(end=ChunkEnd(index=task.index, done=task.count, failed=0))

    def _answer(self, task: ReuseChunkTask) -> RememberedChunk | None:
        """The chunk's outputs from its chunk memo entry, else from a walk of its items answered by the
        memo alone (in this thread's own event loop: the walk is CPU work and its reads block, and the
        worker's loop keeps serving workflows meanwhile); None on any miss."""
        work = task.work
        try:
            library: Library = self.methods.library(work.scope.method_digest)
        except (BlobNotFoundError, LibraryUnusable):
            return None
        store = self.batches.store
        context = cast("dict[str, Any]", get_json(store, work.context_uri))
        loaded = list(read_range(store, read_manifest(store, work.items_uri), task.start, task.count))
        if len(loaded) != task.count:
            return None
        chunk_memo = self.batches.chunk_memo
        remembered = chunk_memo.recall(work, library, loaded, context) if chunk_memo is not None else None
        if remembered is not None:
            return remembered
        with asyncio.Runner() as runner:
            runner.get_loop().set_exception_handler(_quiet_misses)
            try:
                walked = runner.run(
                    walk_from_memo(work, library, self.memo, context, loaded, task.index, task.start)
                )
            except MemoMiss:
                return None
        return RememberedChunk(
            [output.content for output in walked.outputs],
            walked.outputs[0].concept if walked.outputs else None,
            walked.reused.invocations,
            walked.reused.cost_usd,
        )


def _quiet_misses(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The loop's handler of errors nobody awaited: the other items' misses, once the first has ended
    the walk, are expected (logging each one's traceback would cost more than the walk)."""
    if not _from_miss(context.get("exception")):
        loop.default_exception_handler(context)


def _from_miss(error: object) -> bool:
    """Whether `error` is a miss, or was raised because of one: the interpreter reports an executor's
    unexpected error as a typed pipe failure whose cause is the miss."""
    seen = 0
    while isinstance(error, BaseException) and seen < 8:
        if isinstance(error, MemoMiss):
            return True
        error, seen = error.__cause__ or error.__context__, seen + 1
    return False
