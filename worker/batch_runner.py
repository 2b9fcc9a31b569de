"""The walk's `BatchRunner` inside a workflow: a batch leaves as a batch workflow over chunk workflows.

Workflow code (deterministic). The batch's items go to the blob store in pages first (one activity),
then the batch workflow runs them (`batch_workflow.py`); its output comes back inline when small, else
as a reference to its stored pages (`content_refs.py`). Item failures and model usage come back too,
so the run's end reports them as if the items had run in the walk (docs/design/large-batches.md).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from temporalio import workflow
from temporalio.exceptions import CancelledError, ChildWorkflowError

from shared.language.natives import NATIVE_DOMAIN
from shared.language.pipe_costs import PipeCosts
from shared.runs.batch_io import (
    BatchEnd,
    BatchInput,
    BatchWork,
    ItemFailed,
    RunScope,
    StoreBatchTask,
    StoredBatch,
)
from shared.runs.names import BATCH_WORKFLOW, STORE_BATCH_ACTIVITY, batch_workflow_id
from shared.runs.workflow_io import STEP_PAYLOAD_MAX_BYTES
from shared.runtime.batch_call import BatchCall, BatchCancelled, BatchFailed, BatchOutcome
from shared.runtime.batch_plan import batch_key
from shared.runtime.content_refs import is_pages_ref, pages_ref, ref_uri
from shared.runtime.memory_codec import encode_memory
from shared.runtime.run_failure import FailureCode, PipeRunError
from shared.runtime.usage import UsageRecord
from shared.storage.run_storage import run_key
from worker.activity_executor import ReusedTally
from worker.storage_steps import STORAGE_RETRY, STORAGE_TIMEOUT

DYNAMIC = f"{NATIVE_DOMAIN}.Dynamic"
# A chunk schedules at most about this many activities (items times the branch's activities per item):
# with the workflow tasks around them, its history stays well under 10,000 events.
CHUNK_ACTIVITY_BUDGET = 1200


def failure_of(failed: ItemFailed) -> PipeRunError:
    return PipeRunError(
        failed.code, failed.message, pipe=failed.pipe, retryable=failed.retryable, params=dict(failed.params)
    )


def item_failed(failure: PipeRunError) -> ItemFailed:
    return ItemFailed(
        code=failure.code,
        message=failure.message,
        pipe=failure.pipe,
        retryable=failure.retryable,
        params=failure.params,
    )


@dataclass(slots=True)
class StoredTally:
    """Usage and failed items of batches too large to come back inline (their URIs and usage totals),
    and every batch's invocations answered from the memo."""

    usage_uris: list[str] = field(default_factory=list[str])
    cost_usd: float | None = None
    tokens: dict[str, int] = field(default_factory=dict[str, int])
    model_calls: int = 0
    failure_records: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    failure_uris: list[str] = field(default_factory=list[str])
    # Invocations the batches answered from the memo, inline or not: their counts always come back.
    reused: ReusedTally = field(default_factory=ReusedTally)

    def absorb_usage(self, end: BatchEnd) -> None:
        if end.usages_uri is None:
            return
        self.usage_uris.append(end.usages_uri)
        if end.cost_usd is not None:
            self.cost_usd = round((self.cost_usd or 0) + end.cost_usd, 10)
        for category, count in end.tokens.items():
            self.tokens[category] = self.tokens.get(category, 0) + count
        self.model_calls += end.model_calls


class ChildBatchRunner:
    """Runs the batches of one workflow (a run, or a chunk whose items hold nested batches)."""

    def __init__(
        self, scope: RunScope, parent_workflow_id: str, costs: PipeCosts, usages: list[UsageRecord]
    ) -> None:
        self.scope = scope
        self.inline_max_items = scope.policy.batch_inline_max_items
        self.parent_workflow_id = parent_workflow_id
        self.costs = costs
        self.usages = usages  # the walk's executor's records: inline batch usage joins them
        self.stored = StoredTally()
        self.batches_run = 0  # batches that left the walk (a chunk with one writes no chunk memo entry)

    async def run_batch(self, call: BatchCall) -> BatchOutcome:
        self.batches_run += 1
        policy = self.scope.policy
        key = batch_key(call.path.wire())
        out_prefix = run_key(self.scope.storage_prefix, self.scope.run_id, f"batches/{key}")
        steps = self.costs.activity_steps(call.callee.ref)
        if steps:
            chunk_items = max(1, min(policy.batch_chunk_items, CHUNK_ACTIVITY_BUDGET // steps))
        else:
            # A branch of pure pipes (PipeCompose) adds no events per item: a chunk takes as many items
            # as a batch may run inside one workflow.
            chunk_items = max(policy.batch_chunk_items, policy.batch_inline_max_items)
        stored = await self._store(call, out_prefix, chunk_items)
        work = BatchWork(
            scope=self.scope,
            workflow_id=batch_workflow_id(self.parent_workflow_id, key),
            batch_path=call.path.wire(),
            batch_pipe_ref=call.entry.ref,
            branch_pipe_ref=call.callee.ref,
            item_name=call.item_name,
            item_concept=call.held.concept,
            output_concept=call.concept,
            items_uri=stored.items_uri,
            total=stored.total,
            context_uri=stored.context_uri,
            out_prefix=out_prefix,
            chunk_items=chunk_items,
            window=policy.batch_window_chunks,
            chunks_per_history=policy.batch_chunks_per_history,
        )
        end = await self._run_child(call, work)
        self.usages.extend(end.usages)
        self.stored.absorb_usage(end)
        self.stored.reused.add(end.reused_invocations, end.reused_cost_usd)
        self.stored.failure_records.extend(end.failure_records)
        if end.failure_records_uri is not None:
            self.stored.failure_uris.append(end.failure_records_uri)
        if end.failure is not None:
            raise BatchFailed(failure_of(end.failure), end.done, end.failed)
        if end.cancelled:
            raise BatchCancelled(end.done, end.failed)
        if end.items is not None:
            content: dict[str, Any] = {"items": end.items}
        else:
            content = pages_ref(end.items_uri or "", end.count)
        concept = end.concept if call.concept == DYNAMIC and end.concept else call.concept
        return BatchOutcome(content, concept, end.done, end.failed)

    async def _store(self, call: BatchCall, out_prefix: str, chunk_items: int) -> StoredBatch:
        stored_list = is_pages_ref(call.held.content)
        task = StoreBatchTask(
            out_prefix=out_prefix,
            items=None if stored_list else call.held.items(),
            items_uri=ref_uri(call.held.content) if stored_list else None,
            context=encode_memory(call.memory, leave_out=call.list_name),
            page_items=chunk_items,
        )
        size = len(json.dumps(task.model_dump(mode="json"), ensure_ascii=False).encode("utf-8"))
        if size > STEP_PAYLOAD_MAX_BYTES:
            raise PipeRunError(
                FailureCode.PAYLOAD_TOO_LARGE,
                f"the batch '{call.entry.code}' and the memory around it have {size} bytes, over the "
                f"{STEP_PAYLOAD_MAX_BYTES} a run step may carry",
                pipe=call.entry.code,
                params={"size": size, "limit": STEP_PAYLOAD_MAX_BYTES},
            )
        return await workflow.execute_activity(
            STORE_BATCH_ACTIVITY,
            task,
            result_type=StoredBatch,
            start_to_close_timeout=STORAGE_TIMEOUT,
            retry_policy=STORAGE_RETRY,
        )

    async def _run_child(self, call: BatchCall, work: BatchWork) -> BatchEnd:
        try:
            return await workflow.execute_child_workflow(
                BATCH_WORKFLOW,
                BatchInput(work=work),
                id=work.workflow_id,
                result_type=BatchEnd,
                task_queue=workflow.info().task_queue,
                # A cancelled or timed-out run cancels its batch, which cancels its chunks.
                parent_close_policy=workflow.ParentClosePolicy.REQUEST_CANCEL,
                static_summary=f"{call.entry.code}: {work.total} items",
            )
        except ChildWorkflowError as exc:
            if isinstance(exc.cause, CancelledError):
                raise asyncio.CancelledError from exc
            raise PipeRunError(
                FailureCode.RUNTIME_UNEXPECTED,
                f"the batch workflow of '{call.entry.code}' ended without its result: {exc.cause or exc}",
                pipe=call.entry.code,
            ) from exc
