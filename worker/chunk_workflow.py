"""The chunk workflow: a slice of a large batch's items, run by the same interpreter as a run's walk.

Workflow code (deterministic). It loads its method, the memory around the batch and its items (through
activities, in payloads kept small), runs the branch pipe over each item at most `concurrency` at once,
and stores its outputs in parts. Item failures follow the run's `batch_failures`, as in the walk: the
first one ends the chunk (reported in its result, never raised), or each is recorded. A nested batch
inside an item leaves this workflow the same way its parent left the run. A chunk that fails or is
cancelled still stores the usage of the calls it made, for its batch's tally.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from shared.language.library_cache import WORKFLOW_LIBRARIES
    from shared.language.pipe_costs import PipeCosts
    from shared.language.report import BundleSource
    from shared.language.validator import load_library
    from shared.runs.batch_io import (
        BatchWork,
        ChunkContext,
        ChunkContextTask,
        ChunkEnd,
        ChunkInput,
        ChunkMemoNote,
        ChunkOutputTask,
        LoadedItems,
        LoadItemsTask,
    )
    from shared.runs.names import (
        CHUNK_CONTEXT_ACTIVITY,
        CHUNK_WORKFLOW,
        LOAD_ITEMS_ACTIVITY,
        STORE_CHUNK_OUTPUT_ACTIVITY,
    )
    from shared.runtime.batch_failures import ItemFailure, failure_records
    from shared.runtime.call_site import InvocationPath, RunOptions
    from shared.runtime.interpreter import Interpreter
    from shared.runtime.memory_codec import decode_memory
    from shared.runtime.run_failure import PipeRunError
    from shared.runtime.stuff import Stuff
    from shared.runtime.usage import total_cost
    from shared.storage.item_pages import PAGE_MAX_BYTES, cut_pages
    from worker.activity_executor import ActivityOperatorExecutor, ReusedTally
    from worker.batch_runner import ChildBatchRunner, item_failed
    from worker.memo_lookups import MEMO_LOOKUPS_PATCH
    from worker.storage_steps import STORAGE_RETRY, STORAGE_TIMEOUT
    from worker.walk_pacer import WalkPacer


# Chunks recorded before `batch_chunk_concurrency` existed ran the walk's concurrency (8); they replay so.
_CHUNK_CONCURRENCY_PATCH = "chunk-concurrency"
# Items of a resumed chunk started at once to ask the memo together: a chunk of a pure branch may hold
# a thousand, and one activation stepping that many walks nears the SDK's deadlock detector.
_LOOKUP_ITEMS_MAX = 256
# Chunks recorded before failed and cancelled chunks kept their usage replay without keeping it.
_CHUNK_KEEPS_USAGE_PATCH = "chunk-keeps-usage"


@workflow.defn(name=CHUNK_WORKFLOW)
class RunBatchChunkWorkflow:
    @workflow.run
    async def run(self, chunk: ChunkInput) -> ChunkEnd:
        work = chunk.work
        scope = work.scope
        # Asked first, before any command, so its marker leads the first workflow task.
        wide = workflow.patched(_CHUNK_CONCURRENCY_PATCH)
        # A chunk of a run that reuses memo entries looks up its items' entries many at once (a patch,
        # asked by such chunks only: every other chunk's history stays as it was).
        memo = scope.memo
        reuses = memo is not None and bool(memo.reuse_runs or memo.reuse_tenant)
        lookups = reuses and workflow.patched(MEMO_LOOKUPS_PATCH)
        # A chunk that fails or is cancelled keeps the usage of its calls for its batch to count.
        keeps_usage = workflow.patched(_CHUNK_KEEPS_USAGE_PATCH)
        concurrency = scope.policy.batch_chunk_concurrency if wide else scope.concurrency
        started = await workflow.execute_activity(
            CHUNK_CONTEXT_ACTIVITY,
            ChunkContextTask(method_digest=scope.method_digest, context_uri=work.context_uri),
            result_type=ChunkContext,
            start_to_close_timeout=STORAGE_TIMEOUT,
            retry_policy=STORAGE_RETRY,
        )
        library = WORKFLOW_LIBRARIES.get_or_load(
            scope.method_digest,
            lambda: load_library(
                [BundleSource(path=bundle["path"], text=bundle["text"]) for bundle in started.bundles]
            ),
        )
        items = await _load_items(work, chunk)
        item_concurrency = concurrency
        if lookups:
            # Every item starts at once, so that the chunk asks the memo in one activity; the calls of
            # the items it holds nothing for still run at most `concurrency` at once.
            item_concurrency = max(concurrency, min(chunk.count, _LOOKUP_ITEMS_MAX))
        executor = ActivityOperatorExecutor(
            scope, summaries=False, memo_lookups=lookups, operator_slots=concurrency if lookups else None
        )
        runner = ChildBatchRunner(scope, workflow.info().workflow_id, PipeCosts(library), executor.usages)
        nested_failures: list[ItemFailure] = []
        interpreter = Interpreter(
            library,
            executor,
            RunOptions(
                dynamic_output_concept=scope.dynamic_output_concept,
                concurrency=item_concurrency,
                seed=f"{scope.run_id}:{work.batch_path}:{chunk.index}",
                pace=WalkPacer(scope.policy.history_event_budget),
                batch_failures=scope.batch_failures,
                failed_items=nested_failures,
                batches=runner,
            ),
        )
        try:
            results = await interpreter.controllers.run_items(
                library.pipes[work.batch_pipe_ref],
                library.pipes[work.branch_pipe_ref],
                decode_memory(started.context),
                work.item_concept,
                work.item_name,
                InvocationPath(tuple(work.batch_path.split("/"))),
                items,
                chunk.start,
            )
        except PipeRunError as failure:
            if keeps_usage:
                await _keep_usage(work, chunk, executor, runner)
            return ChunkEnd(index=chunk.index, done=0, failed=1, failure=item_failed(failure))
        except asyncio.CancelledError:
            # Its batch failed on another chunk's item, or the run was cancelled: the calls this chunk
            # made were still made (and paid), so the run's usage must count them.
            if keeps_usage:
                await _keep_usage(work, chunk, executor, runner)
            raise
        outputs = [result for result in results if isinstance(result, Stuff)]
        failed = [result for result in results if isinstance(result, ItemFailure)]
        records = failure_records([*failed, *nested_failures], pipeline_run_id=scope.run_id)
        parts = list(
            cut_pages((output.content for output in outputs), len(outputs) or 1, PAGE_MAX_BYTES)
        ) or [[]]
        for number, part in enumerate(parts):
            last = number == len(parts) - 1
            extra: dict[str, Any] = {}
            if last:
                extra = {
                    "part_counts": [len(each) for each in parts],
                    "done": len(items) - len(failed),
                    "failed": len(failed),
                    "failure_records": [*records, *runner.stored.failure_records],
                    "failure_records_uris": runner.stored.failure_uris,
                    "usages": executor.usages,
                    "usages_uris": runner.stored.usage_uris,
                    "concept": outputs[0].concept if outputs else None,
                    **_reused(executor.reused, runner.stored.reused),
                    "memo": _memo_note(
                        work, chunk, executor, runner, whole=not failed and not nested_failures
                    ),
                }
            await workflow.execute_activity(
                STORE_CHUNK_OUTPUT_ACTIVITY,
                ChunkOutputTask(
                    out_prefix=work.out_prefix,
                    index=chunk.index,
                    part=number,
                    outputs=part,
                    last=last,
                    **extra,
                ),
                start_to_close_timeout=STORAGE_TIMEOUT,
                retry_policy=STORAGE_RETRY,
            )
        return ChunkEnd(index=chunk.index, done=len(items) - len(failed), failed=len(failed))


async def _keep_usage(
    work: BatchWork, chunk: ChunkInput, executor: ActivityOperatorExecutor, runner: ChildBatchRunner
) -> None:
    """A chunk result with no output, only the usage and reused counts of the calls made so far, which
    the batch's tally reads (`tally_chunks`) when the batch fails or is cancelled."""
    await workflow.execute_activity(
        STORE_CHUNK_OUTPUT_ACTIVITY,
        ChunkOutputTask(
            out_prefix=work.out_prefix,
            index=chunk.index,
            part=0,
            outputs=[],
            last=True,
            part_counts=[0],
            usages=executor.usages,
            usages_uris=runner.stored.usage_uris,
            **_reused(executor.reused, runner.stored.reused),
        ),
        start_to_close_timeout=STORAGE_TIMEOUT,
        retry_policy=STORAGE_RETRY,
    )


async def _load_items(work: BatchWork, chunk: ChunkInput) -> list[Any]:
    """The chunk's items, in as many loads as their size needs (each answer stays under ~1 MB)."""
    items: list[Any] = []
    while len(items) < chunk.count:
        loaded = await workflow.execute_activity(
            LOAD_ITEMS_ACTIVITY,
            LoadItemsTask(
                items_uri=work.items_uri,
                start=chunk.start + len(items),
                count=chunk.count - len(items),
                max_bytes=PAGE_MAX_BYTES,
            ),
            result_type=LoadedItems,
            start_to_close_timeout=STORAGE_TIMEOUT,
            retry_policy=STORAGE_RETRY,
        )
        if not loaded.items:
            break  # the stored list is shorter than planned (cannot happen: it was counted when stored)
        items.extend(loaded.items)
    return items


def _memo_note(
    work: BatchWork,
    chunk: ChunkInput,
    executor: ActivityOperatorExecutor,
    runner: ChildBatchRunner,
    *,
    whole: bool,
) -> ChunkMemoNote | None:
    """What the chunk's memo entry needs, for a chunk whose every item completed in a run that keeps a
    memo; None otherwise, and for a chunk with nested batches (their invocations are not counted here)."""
    memo = work.scope.memo
    if not whole or memo is None or not memo.write or runner.batches_run:
        return None
    cost = ReusedTally()
    cost.add(0, total_cost(executor.usages))
    cost.add(0, executor.reused.cost_usd)
    return ChunkMemoNote(
        work=work,
        start=chunk.start,
        count=chunk.count,
        invocations=executor.made + executor.reused.invocations,
        cost_usd=cost.cost_usd,
    )


def _reused(own: ReusedTally, nested: ReusedTally) -> dict[str, Any]:
    """The chunk's invocations answered from the memo: its items' and its nested batches'."""
    total = ReusedTally()
    total.add(own.invocations, own.cost_usd)
    total.add(nested.invocations, nested.cost_usd)
    return {"reused_invocations": total.invocations, "reused_cost_usd": total.cost_usd}
