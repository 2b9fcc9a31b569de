"""The batch workflow: one large batch, run as chunk workflows through a sliding window.

Workflow code (deterministic). After Temporal's `batch_sliding_window` sample, written for pipes
(docs/design/large-batches.md): at most `window` chunks run at once, started in item order; after
`chunks_per_history` chunks this workflow lets its window drain and continues as new, carrying only its
window and counters, so its history stays bounded whatever the number of items. When every chunk has
ended, one activity seals the output (the chunks' pages in item order). Cancelled, it cancels its chunks
and answers its counts so far (`BatchEnd.cancelled`), for the run to record before it unwinds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, CancelledError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from shared.runs.batch_io import (
        BatchCarry,
        BatchEnd,
        BatchInput,
        BatchProgress,
        BatchWork,
        ChunkEnd,
        ChunkInput,
        ChunksTally,
        ItemFailed,
        SealBatchTask,
        TallyChunksTask,
    )
    from shared.runs.chunk_reuse_io import REUSE_CHUNK_ACTIVITY, ReuseChunkTask, ReusedChunk
    from shared.runs.names import (
        BATCH_PROGRESS_QUERY,
        BATCH_WORKFLOW,
        CHUNK_WORKFLOW,
        SEAL_BATCH_ACTIVITY,
        TALLY_CHUNKS_ACTIVITY,
        chunk_workflow_id,
    )
    from shared.runtime.batch_plan import BatchCounters, SlidingWindow, chunk_count, chunk_range
    from shared.runtime.run_failure import FailureCode
    from worker.storage_steps import LONG_STORAGE_HEARTBEAT, LONG_STORAGE_TIMEOUT, STORAGE_RETRY

# Before this many events the workflow hands over to a fresh history even if it has not seen
# `chunks_per_history` chunks yet (a chunk costs it about 6 events; this is the backstop).
_HISTORY_EVENTS_MAX = 6000
# Batches that failed or were cancelled before they counted their chunks' usage replay without it.
_FAILED_BATCH_USAGE_PATCH = "failed-batch-usage"
# A batch of a run that reuses memo entries first asks the memo for each chunk, in one activity, and
# starts the chunk's workflow only when the memo cannot answer it whole (a patch, asked by such
# batches only: every other batch's history stays as it was).
_REUSE_CHUNKS_PATCH = "reuse-chunks"
# The walk of a chunk from the memo reads one entry per invocation: seconds, not minutes. One that
# fails or times out is given up: the chunk's workflow runs the chunk.
_REUSE_TIMEOUT = timedelta(seconds=120)
_REUSE_RETRY = RetryPolicy(maximum_attempts=2, maximum_interval=timedelta(seconds=5))
# Chunks of such a batch in flight, most of them asking the memo (one activity each); chunk workflows
# among them stay at the batch's own window, and every chunk takes its turn in index order (`_turn`): no
# call of a later chunk runs before an earlier chunk that must run has started.
_REUSE_WINDOW_CHUNKS = 8
# Since `reuse-wide-window`: twice as many chunks ask at once (a chunk answered by its chunk memo entry
# costs a few reads, so the lookups before a chunk that must run end sooner, and its calls start sooner).
_WIDE_WINDOW_PATCH = "reuse-wide-window"
_WIDE_REUSE_WINDOW_CHUNKS = 16


@workflow.defn(name=BATCH_WORKFLOW)
class RunBatchWorkflow:
    def __init__(self) -> None:
        self._work: BatchWork | None = None
        self._carry: BatchCarry | None = None
        self._ended: list[ChunkEnd] = []
        self._reuse_chunks = False
        # When more chunks than the batch's window ask the memo at once: the chunk whose turn it is to
        # be reused or to start its workflow (so calls still start in item order), and the chunk
        # workflows in flight.
        self._turn = 0
        self._workflows = 0
        self._reuse_window = _REUSE_WINDOW_CHUNKS

    @workflow.run
    async def run(self, batch: BatchInput) -> BatchEnd:
        work = batch.work
        self._work = work
        memo = work.scope.memo
        if memo is not None and (memo.reuse_runs or memo.reuse_tenant):
            # Asked first, before any command, so its marker leads the first workflow task.
            self._reuse_chunks = workflow.patched(_REUSE_CHUNKS_PATCH)
            wide = self._reuse_chunks and workflow.patched(_WIDE_WINDOW_PATCH)
            self._reuse_window = _WIDE_REUSE_WINDOW_CHUNKS if wide else _REUSE_WINDOW_CHUNKS
        window = work.window
        if self._reuse_chunks:
            window = max(window, self._reuse_window)
        total_chunks = chunk_count(work.total, work.chunk_items)
        carry = batch.carry or BatchCarry(
            window=SlidingWindow(total_chunks=total_chunks, window=window),
            counters=BatchCounters(total=work.total),
        )
        self._carry = carry
        self._turn = carry.window.next_chunk  # this history's first chunk (the window drained before)
        running: dict[int, asyncio.Task[None]] = {}
        completions = 0
        try:
            while not carry.window.is_done:
                hand_over = completions + len(running) >= work.chunks_per_history or (
                    workflow.info().get_current_history_length() > _HISTORY_EVENTS_MAX
                )
                while carry.window.can_start and not hand_over:
                    index, window = carry.window.start()
                    items = chunk_range(index, work.total, work.chunk_items)
                    carry = self._set(
                        carry.model_copy(
                            update={"window": window, "counters": carry.counters.chunk_started(len(items))}
                        )
                    )
                    running[index] = asyncio.ensure_future(self._run_chunk(work, index, items))
                    hand_over = completions + len(running) >= work.chunks_per_history
                if not running:
                    break  # drained: hand over to a fresh history
                await workflow.wait_condition(lambda: bool(self._ended) or _any_raised(running))
                _raise_first(running)
                ended, self._ended = sorted(self._ended, key=lambda end: end.index), []
                for end in ended:
                    running.pop(end.index)
                    completions += 1
                    if end.failure is not None:
                        return await self._failed(carry, running, end.failure)
                    carry = self._set(
                        carry.model_copy(
                            update={
                                "window": carry.window.complete(end.index),
                                "counters": carry.counters.chunk_ended(end.done, end.failed),
                            }
                        )
                    )
        except asyncio.CancelledError:
            return await self._cancelled(carry, running)
        if not carry.window.is_done:
            workflow.continue_as_new(
                BatchInput(work=work, carry=carry.model_copy(update={"histories": carry.histories + 1}))
            )
        return await self._seal(work, carry, total_chunks)

    def _set(self, carry: BatchCarry) -> BatchCarry:
        self._carry = carry
        return carry

    async def _run_chunk(self, work: BatchWork, index: int, items: range) -> None:
        if not self._reuse_chunks:
            end = await self._chunk_workflow(work, index, items)
            self._ended.append(end)
            return
        reused = await self._reused_chunk(work, index, items)
        await workflow.wait_condition(lambda: self._turn == index)
        if reused is not None:
            self._turn += 1
            self._ended.append(reused)
            return
        await workflow.wait_condition(lambda: self._workflows < work.window)
        self._workflows += 1
        self._turn += 1
        try:
            end = await self._chunk_workflow(work, index, items)
        finally:
            self._workflows -= 1
        self._ended.append(end)  # after the await: the run loop swaps `_ended` for a fresh list

    async def _chunk_workflow(self, work: BatchWork, index: int, items: range) -> ChunkEnd:
        # The chunk reports its item failures in its result: it only raises when cancelled, or when
        # something outside the walk ended it (terminated by hand), which fails the batch typed.
        try:
            end = await workflow.execute_child_workflow(
                CHUNK_WORKFLOW,
                ChunkInput(work=work, index=index, start=items.start, count=len(items)),
                id=chunk_workflow_id(work.workflow_id, index),
                result_type=ChunkEnd,
                task_queue=workflow.info().task_queue,
                parent_close_policy=workflow.ParentClosePolicy.REQUEST_CANCEL,
                # Names what the chunk's activities run (they carry no summary of their own).
                static_summary=f"{work.branch_pipe_ref}: items {items.start + 1}-{items.stop}",
            )
        except ChildWorkflowError as exc:
            if isinstance(exc.cause, CancelledError):
                raise asyncio.CancelledError from exc
            failure = ItemFailed(
                code=FailureCode.RUNTIME_UNEXPECTED,
                message=f"chunk {index} of the batch ended without its result: {exc.cause or exc}",
                pipe=work.batch_pipe_ref.rpartition(".")[2],
            )
            end = ChunkEnd(index=index, done=0, failed=0, failure=failure)
        return end

    async def _reused_chunk(self, work: BatchWork, index: int, items: range) -> ChunkEnd | None:
        """The chunk's end when the memo answered it whole (its outputs are stored); else None."""
        try:
            answer = await workflow.execute_activity(
                REUSE_CHUNK_ACTIVITY,
                ReuseChunkTask(work=work, index=index, start=items.start, count=len(items)),
                result_type=ReusedChunk,
                start_to_close_timeout=_REUSE_TIMEOUT,
                retry_policy=_REUSE_RETRY,
                summary=f"{work.branch_pipe_ref}: items {items.start + 1}-{items.stop} from the memo",
            )
        except ActivityError as exc:
            if isinstance(exc.cause, CancelledError):
                raise asyncio.CancelledError from exc
            return None  # the chunk's workflow runs it, and answers from the memo what it can
        return answer.end

    async def _failed(
        self, carry: BatchCarry, running: dict[int, asyncio.Task[None]], failure: ItemFailed
    ) -> BatchEnd:
        """A chunk failed on an item (`batch_failures: "fail"`): the others are cancelled, the batch fails."""
        await _cancel_all(running)
        counters = carry.counters
        end = BatchEnd(total=counters.total, done=counters.done, failed=counters.failed + 1, failure=failure)
        return await self._with_usage(end, carry)

    async def _cancelled(self, carry: BatchCarry, running: dict[int, asyncio.Task[None]]) -> BatchEnd:
        """Cancelled with its run: the chunks in flight are cancelled, and the batch answers its counts
        instead of raising. Its parent, which asked for the cancel, reads them (a workflow's cancellation
        carries no details) and unwinds as cancelled; this workflow closes as completed."""
        await _cancel_all(running)
        counters = carry.counters
        for end in self._ended:  # chunks that ended while the cancel was on its way
            if end.failure is None:
                counters = counters.chunk_ended(end.done, end.failed)
        carry = self._set(carry.model_copy(update={"counters": counters}))
        end = BatchEnd(total=counters.total, done=counters.done, failed=counters.failed, cancelled=True)
        return await self._with_usage(end, carry)

    async def _with_usage(self, end: BatchEnd, carry: BatchCarry) -> BatchEnd:
        """A failed or cancelled batch's end with the usage its started chunks kept (what a seal would
        have counted, and what the failed and cancelled chunks had spent), so the run's usage holds it."""
        work = self._work
        if work is None or not workflow.patched(_FAILED_BATCH_USAGE_PATCH):
            return end
        tally = await workflow.execute_activity(
            TALLY_CHUNKS_ACTIVITY,
            TallyChunksTask(
                out_prefix=work.out_prefix,
                chunks=carry.window.next_chunk,
                inline_max_bytes=work.scope.policy.output_inline_max_bytes,
            ),
            result_type=ChunksTally,
            start_to_close_timeout=LONG_STORAGE_TIMEOUT,
            heartbeat_timeout=LONG_STORAGE_HEARTBEAT,
            retry_policy=STORAGE_RETRY,
        )
        return end.model_copy(update={name: getattr(tally, name) for name in ChunksTally.model_fields})

    async def _seal(self, work: BatchWork, carry: BatchCarry, total_chunks: int) -> BatchEnd:
        counters = carry.counters
        return await workflow.execute_activity(
            SEAL_BATCH_ACTIVITY,
            SealBatchTask(
                out_prefix=work.out_prefix,
                chunks=total_chunks,
                total=work.total,
                inline_max_bytes=work.scope.policy.output_inline_max_bytes,
                done=counters.done,
                failed=counters.failed,
            ),
            result_type=BatchEnd,
            start_to_close_timeout=LONG_STORAGE_TIMEOUT,
            heartbeat_timeout=LONG_STORAGE_HEARTBEAT,
            retry_policy=STORAGE_RETRY,
        )

    @workflow.query(name=BATCH_PROGRESS_QUERY)
    def progress(self) -> BatchProgress | None:
        """Exact item counters across every chunk and every history of this batch."""
        if self._work is None or self._carry is None:
            return None
        counters = self._carry.counters
        return BatchProgress(
            batch_path=self._work.batch_path,
            total=counters.total,
            done=counters.done,
            failed=counters.failed,
            in_flight=counters.in_flight,
            histories=self._carry.histories,
        )


async def _cancel_all(running: dict[int, asyncio.Task[None]]) -> None:
    """Cancel the chunks in flight and wait until each has taken it (their children end with them)."""
    for task in running.values():
        task.cancel()
    await asyncio.gather(*running.values(), return_exceptions=True)


def _any_raised(running: Mapping[int, asyncio.Task[None]]) -> bool:
    """Whether a chunk's task ended without its end: a defect (a chunk's end is recorded before its
    task returns), which must fail the workflow task visibly, not leave the batch waiting forever."""
    return any(
        task.done() and not task.cancelled() and task.exception() is not None for task in running.values()
    )


def _raise_first(running: Mapping[int, asyncio.Task[None]]) -> None:
    for task in running.values():
        if task.done() and not task.cancelled() and (error := task.exception()) is not None:
            raise error
