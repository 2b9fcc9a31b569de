"""The run workflow: the shared interpreter walks the method in workflow code, operators run as activities.

Deterministic by construction: the interpreter is pure, concurrency is asyncio under Temporal's event
loop, time comes from `workflow.now()`. Pipe failures, cancellation and the run timeout all end the
workflow normally, with the run's state in its result (http-api.md §9.1), so callbacks can follow.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeKey

with workflow.unsafe.imports_passed_through():
    from shared.language.library_cache import WORKFLOW_LIBRARIES
    from shared.language.pipe_costs import PipeCosts
    from shared.language.report import BundleSource
    from shared.language.validator import LibraryUnusable, load_library
    from shared.problems.run_errors import failure_error, run_error
    from shared.runs.batch_io import MergeListsTask, RunScope
    from shared.runs.budget_io import RUN_BUDGET_WORKFLOW, RunBudgetStart, budget_workflow_id
    from shared.runs.finished_event import finished_event
    from shared.runs.names import (
        CALLBACKS_WORKFLOW,
        CANCEL_SIGNAL,
        CANCEL_UPDATE,
        MERGE_LISTS_ACTIVITY,
        PROGRESS_QUERY,
        RUN_WORKFLOW,
        STATE_ATTRIBUTE,
        STORE_RUN_OUTPUT_ACTIVITY,
        WORKER_POLICY_ACTIVITY,
        callbacks_task_queue,
        callbacks_workflow_id,
    )
    from shared.runs.progress_log import ProgressLog
    from shared.runs.run_states import RunState
    from shared.runs.timestamps import rfc3339
    from shared.runs.workflow_io import (
        ActivityPolicy,
        CallbackDelivery,
        CancelAnswer,
        MemoScope,
        ProgressCounters,
        ProgressView,
        RunEnd,
        RunSpec,
        StoreOutputTask,
    )
    from shared.runtime.batch_failures import BatchFailureMode, ItemFailure, failure_records
    from shared.runtime.call_site import DEFAULT_CONCURRENCY, TEXT, RunOptions
    from shared.runtime.caller_inputs import InputRefused
    from shared.runtime.run_failure import PipeRunError
    from shared.runtime.run_pipeline import RunOutcome, RunRequest, dynamic_concept, run_pipeline
    from shared.runtime.usage import tokens_total, total_cost
    from shared.storage.run_storage import run_key
    from worker.activity_executor import ActivityOperatorExecutor, ReusedTally
    from worker.batch_runner import ChildBatchRunner, StoredTally
    from worker.memo_lookups import MEMO_LOOKUPS_PATCH
    from worker.storage_steps import (
        LONG_STORAGE_HEARTBEAT,
        LONG_STORAGE_TIMEOUT,
        STORAGE_RETRY,
        STORAGE_TIMEOUT,
    )
    from worker.walk_pacer import WalkPacer

STATE_KEY = SearchAttributeKey.for_keyword(STATE_ATTRIBUTE)
# 400,000 characters are at most 1.6 MB of UTF-8: a part always fits in one payload.
_OUTPUT_PART_CHARS = 400_000
# A final progress log up to this size rides in the workflow result; a larger one is stored.
_PROGRESS_INLINE_MAX_BYTES = 256 * 1024
# Runs started before the memo carried `finished_at` replay without writing it.
_FINISHED_AT_MEMO_PATCH = "finished-at-memo"
# Runs started before batches left the run workflow replay with every batch in the walk.
_BATCH_WORKFLOWS_PATCH = "batch-workflows"


@workflow.defn(name=RUN_WORKFLOW)
class RunPipelineWorkflow:
    def __init__(self) -> None:
        self._log: ProgressLog | None = None
        self._walk: asyncio.Future[RunOutcome] | None = None
        self._policy: ActivityPolicy | None = None
        self._cancel_reason: str | None = None
        self._cancel_requested = False
        # Set once the run's end (its state) is settled: a cancel after that is refused, never dropped.
        self._ended: RunState | None = None
        self._final_memory: dict[str, Any] | None = None
        self._executor: ActivityOperatorExecutor | None = None
        self._batches: ChildBatchRunner | None = None
        self._batch_workflows = False
        self._memo_lookups = False
        # Batch items that failed under `batch_failures: "collect"`, recorded by the interpreter.
        self._failed_items: list[ItemFailure] = []

    @workflow.run
    async def run(self, spec: RunSpec) -> RunEnd:
        # Asked first, before any command: its marker then leads the first workflow task, and never
        # meets the local activity that reads the worker's policy (whose marker core may place around it).
        self._batch_workflows = workflow.patched(_BATCH_WORKFLOWS_PATCH)
        # A run that reuses memo entries looks them up many at once; only such runs ask (none did
        # before this patch), so every other run's history stays as it was.
        self._memo_lookups = reuses_memo(spec) and workflow.patched(MEMO_LOOKUPS_PATCH)
        log = ProgressLog(spec.run_id, now=_now, on_state=_upsert_state)
        self._log = log
        settled = await self._run_to_end(spec, log)
        self._ended = settled.state
        if workflow.patched(_FINISHED_AT_MEMO_PATCH):
            # The end's own time, where listings read it: every route shows one `finished_at` (§9.2).
            workflow.upsert_memo({"finished_at": settled.finished_at})
        end = await self._with_usage(spec, settled)
        end = await self._with_batch_failures(spec, end)
        if spec.callback_urls:
            await self._start_callbacks(spec, end)
        return await self._with_progress(spec, log, end)

    async def _run_to_end(self, spec: RunSpec, log: ProgressLog) -> RunEnd:
        try:
            outcome = await self._walk_to_end(spec, log)
        except asyncio.CancelledError:
            return self._cancelled(spec, log)
        except TimeoutError:
            log.cancel_running()
            error, status = run_error(
                "run.timed_out",
                f"The run did not end within {spec.run_timeout_seconds:g} seconds.",
                pipeline_run_id=spec.run_id,
                params={"limit_seconds": spec.run_timeout_seconds},
            )
            return _end(log, RunState.FAILED, error, status)
        except PipeRunError as failure:
            # The failure cancelled its siblings (the other items of a batch, branches of a parallel).
            log.cancel_running()
            error, status = failure_error(failure, pipeline_run_id=spec.run_id)
            return _end(log, RunState.FAILED, error, status)
        except LibraryUnusable as exc:
            # The API validated these bundles: only a version skew between API and worker gets here.
            error, status = run_error(
                "runtime.unexpected",
                f"The worker cannot load the method: {exc}.",
                pipeline_run_id=spec.run_id,
            )
            return _end(log, RunState.FAILED, error, status)
        except InputRefused as refused:
            error, status = run_error(
                refused.code, refused.message, pipeline_run_id=spec.run_id, params=refused.params
            )
            return _end(log, RunState.FAILED, error, status)
        return await self._completed(spec, log, outcome)

    def _cancelled(self, spec: RunSpec, log: ProgressLog) -> RunEnd:
        log.cancel_running()
        reason = f": {self._cancel_reason}" if self._cancel_reason else ""
        error, status = run_error(
            "run.cancelled",
            f"The run was cancelled{reason}.",
            pipeline_run_id=spec.run_id,
            params={"reason": self._cancel_reason},
        )
        return _end(log, RunState.CANCELLED, error, status)

    async def _walk_to_end(self, spec: RunSpec, log: ProgressLog) -> RunOutcome:
        policy = await self._worker_policy()
        library = WORKFLOW_LIBRARIES.get_or_load(
            spec.method_digest,
            lambda: load_library(
                [BundleSource(path=bundle.path, text=bundle.text) for bundle in spec.bundles]
            ),
        )
        request = RunRequest(
            pipe_ref=spec.pipe_ref,
            inputs=spec.inputs,
            output_name=spec.output_name,
            output_multiplicity=spec.output_multiplicity,
            dynamic_output_concept_ref=spec.dynamic_output_concept_ref,
        )
        scope = RunScope(
            run_id=spec.run_id,
            storage_prefix=spec.storage_prefix,
            method_digest=spec.method_digest,
            run_workflow_id=workflow.info().workflow_id,
            batch_failures=spec.batch_failures,
            dynamic_output_concept=dynamic_concept(library, request) or TEXT,
            concurrency=DEFAULT_CONCURRENCY,
            policy=policy,
            memo=memo_scope(spec, policy),
            budget=await _budget_ledger(spec),
        )
        executor = ActivityOperatorExecutor(scope, memo_lookups=self._memo_lookups)
        self._executor = executor
        batches = None
        if self._batch_workflows:
            batches = ChildBatchRunner(scope, scope.run_workflow_id, PipeCosts(library), executor.usages)
        self._batches = batches
        walk = asyncio.ensure_future(
            run_pipeline(
                library,
                request,
                executor,
                RunOptions(
                    seed=spec.run_id,
                    pace=WalkPacer(policy.history_event_budget),
                    batch_failures=spec.batch_failures,
                    failed_items=self._failed_items,
                    batches=batches,
                ),
                log,
            )
        )
        self._walk = walk
        if self._cancel_requested:
            walk.cancel()
        # The run's own limit is a workflow timer; Temporal's execution timeout is only a backstop.
        return await asyncio.wait_for(walk, timeout=spec.run_timeout_seconds)

    async def _completed(self, spec: RunSpec, log: ProgressLog, outcome: RunOutcome) -> RunEnd:
        memory = outcome.memory.wire()
        self._final_memory = memory
        policy = await self._worker_policy()
        output_ref = None
        text = json.dumps(memory, ensure_ascii=False)
        if len(text.encode("utf-8")) > policy.output_inline_max_bytes:
            output_ref = await self._store_output(spec, text)
        if self._cancel_requested:
            # Accepted while the output was being stored: the run honours it rather than end COMPLETED
            # behind an answer that said the cancel was taken.
            return self._cancelled(spec, log)
        log.set_state(RunState.COMPLETED)
        return RunEnd(
            state=RunState.COMPLETED,
            finished_at=_now(),
            main_stuff_name=outcome.main_stuff_name,
            working_memory=None if output_ref else memory,
            output_ref=output_ref,
        )

    async def _start_callbacks(self, spec: RunSpec, end: RunEnd) -> None:
        """Hand the `run.finished` event to the delivery workflow (§10.1), which outlives this run."""
        policy = (await self._worker_policy()).callbacks
        event = finished_event(
            run_id=spec.run_id,
            created_at=spec.created_at,
            end=end,
            memory=self._final_memory,
            result_url=f"{spec.public_base_url}/v1/runs/{spec.run_id}/results",
            output_max_bytes=policy.output_max_bytes,
        )
        await workflow.start_child_workflow(
            CALLBACKS_WORKFLOW,
            CallbackDelivery(
                run_id=spec.run_id,
                storage_prefix=spec.storage_prefix,
                body=json.dumps(event, ensure_ascii=False, separators=(",", ":")),
                urls=spec.callback_urls,
                policy=policy,
                run_workflow_id=workflow.info().workflow_id,
            ),
            # Beside the run's own workflow id, which is scoped by tenant (http-api.md §7).
            id=callbacks_workflow_id(workflow.info().workflow_id),
            task_queue=callbacks_task_queue(workflow.info().task_queue),
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
        )

    async def _with_usage(self, spec: RunSpec, end: RunEnd) -> RunEnd:
        """The run's end with the usage of its model calls: totals inline, records inline when small.

        Batches that ran as batch workflows brought their records back inline when small (they are in
        the executor's list), else stored: their totals count here and their records are merged.
        Invocations answered from the memo count apart (`reused_*`): their calls were not made again.
        """
        reused = self._reused_so_far()
        if reused.invocations:
            end = end.model_copy(
                update={"reused_invocations": reused.invocations, "reused_cost_usd": reused.cost_usd}
            )
        records = self._executor.usages if self._executor is not None else []
        stored = self._batches.stored if self._batches is not None else StoredTally()
        if not records and not stored.usage_uris:
            return end
        model_calls, cost = self._spend_so_far()
        tokens = tokens_total(records)
        for category, count in stored.tokens.items():
            tokens[category] = tokens.get(category, 0) + count
        totals: dict[str, Any] = {"cost_usd": cost, "tokens": tokens, "model_calls": model_calls}
        inline = [record.model_dump(mode="json") for record in records]
        policy = await self._worker_policy()
        if not stored.usage_uris and _json_size(inline) <= policy.output_inline_max_bytes:
            return end.model_copy(update={**totals, "tokens_usages": list(records)})
        ref = await self._stored_list(spec, "tokens_usages.json", inline, stored.usage_uris)
        return end.model_copy(update={**totals, "tokens_usages_ref": ref})

    async def _with_batch_failures(self, spec: RunSpec, end: RunEnd) -> RunEnd:
        """Under `batch_failures: "collect"`, the run's end with its failed items: inline when small, else
        stored. Other runs are left as they were (no command added: their histories replay unchanged).
        """
        if spec.batch_failures is not BatchFailureMode.COLLECT:
            return end
        stored = self._batches.stored if self._batches is not None else StoredTally()
        records = [
            *failure_records(self._failed_items, pipeline_run_id=spec.run_id),
            *stored.failure_records,
        ]
        policy = await self._worker_policy()
        if not stored.failure_uris and _json_size(records) <= policy.output_inline_max_bytes:
            return end.model_copy(update={"batch_failures": records})
        if stored.failure_uris:
            ref = await self._stored_list(spec, "batch_failures.json", records, stored.failure_uris)
        else:
            ref = await self._store_output(
                spec, json.dumps(records, ensure_ascii=False), "batch_failures.json"
            )
        return end.model_copy(update={"batch_failures_ref": ref})

    async def _stored_list(self, spec: RunSpec, name: str, inline: list[Any], uris: list[str]) -> str:
        """One stored JSON list of `inline` then the lists stored at `uris` (batches' usage, failures)."""
        return await workflow.execute_activity(
            MERGE_LISTS_ACTIVITY,
            MergeListsTask(key=run_key(spec.storage_prefix, spec.run_id, name), inline=inline, uris=uris),
            result_type=str,
            start_to_close_timeout=LONG_STORAGE_TIMEOUT,
            heartbeat_timeout=LONG_STORAGE_HEARTBEAT,
            retry_policy=STORAGE_RETRY,
        )

    async def _with_progress(self, spec: RunSpec, log: ProgressLog, end: RunEnd) -> RunEnd:
        """The run's end with its final progress log: inline when small, else its events stored in parts."""
        view = _with_spend(log.view(limit=None), end.model_calls, end.cost_usd, end.reused_invocations)
        text = view.model_dump_json()
        if len(text.encode("utf-8")) <= _PROGRESS_INLINE_MAX_BYTES:
            return end.model_copy(update={"progress": view})
        # The counters stay inline (status reads need nothing more); the events are stored.
        ref = await self._store_output(spec, text, "progress.json")
        return end.model_copy(
            update={"progress": view.model_copy(update={"events": []}), "progress_ref": ref}
        )

    async def _store_output(self, spec: RunSpec, text: str, name: str = "working_memory.json") -> str:
        """Large documents of a run's end live in storage, the workflow result carries their URI (§9.1);
        the text goes in parts so that no payload nears Temporal's 2 MB limit.
        """
        parts = [
            text[start : start + _OUTPUT_PART_CHARS] for start in range(0, len(text), _OUTPUT_PART_CHARS)
        ]
        uri = ""
        for index, part in enumerate(parts):
            uri = await workflow.execute_activity(
                STORE_RUN_OUTPUT_ACTIVITY,
                StoreOutputTask(
                    storage_prefix=spec.storage_prefix,
                    run_id=spec.run_id,
                    part=index,
                    parts=len(parts),
                    text=part,
                    name=name,
                ),
                result_type=str,
                start_to_close_timeout=STORAGE_TIMEOUT,
            )
        return uri

    async def _worker_policy(self) -> ActivityPolicy:
        policy = self._policy
        if policy is None:
            policy = await workflow.execute_local_activity(
                WORKER_POLICY_ACTIVITY,
                result_type=ActivityPolicy,
                start_to_close_timeout=timedelta(seconds=30),
            )
            self._policy = policy
        return policy

    @workflow.signal(name=CANCEL_SIGNAL)
    def cancel(self, reason: str | None) -> None:
        """Cooperative cancel (§9.7): stop the walk; running activities are cancelled with it.

        The API sends the `request_cancel` update, and this signal only when no worker answered it in
        time; a signal that arrives once the end is settled changes nothing (the update says so).
        """
        if self._cancel_requested or self._ended is not None:
            return
        self._cancel_requested = True
        self._cancel_reason = reason
        if self._walk is not None:
            self._walk.cancel()

    @workflow.update(name=CANCEL_UPDATE)
    def request_cancel(self, reason: str | None) -> CancelAnswer:
        """The cancel with its answer: accepted (the run will end CANCELLED) or too late (its end state)."""
        if self._ended is not None:
            return CancelAnswer(accepted=False, state=self._ended)
        self.cancel(reason)
        return CancelAnswer(accepted=True, state=RunState.RUNNING)

    @workflow.query(name=PROGRESS_QUERY)
    def progress(self, after: int) -> ProgressView:
        """The state, counters and progress events after `after` (the caller's last seen seq)."""
        if self._log is None:
            return ProgressView(state=RunState.STARTED, version=0, counters=ProgressCounters(), events=[])
        return _with_spend(self._log.view(after), *self._spend_so_far(), self._reused_so_far().invocations)

    def _spend_so_far(self) -> tuple[int, float | None]:
        """The model calls settled so far and their cost: the walk's own records and stored batches'."""
        records = self._executor.usages if self._executor is not None else []
        stored = self._batches.stored if self._batches is not None else StoredTally()
        cost = total_cost(records)
        if stored.cost_usd is not None:
            cost = round((cost or 0) + stored.cost_usd, 10)
        return len(records) + stored.model_calls, cost

    def _reused_so_far(self) -> ReusedTally:
        """The invocations answered from the memo so far: the walk's own and ended batches'."""
        total = ReusedTally()
        for tally in (
            self._executor.reused if self._executor is not None else None,
            self._batches.stored.reused if self._batches is not None else None,
        ):
            if tally is not None:
                total.add(tally.invocations, tally.cost_usd)
        return total


def _with_spend(
    view: ProgressView, model_calls: int, cost_usd: float | None, reused_invocations: int = 0
) -> ProgressView:
    counters = view.counters.model_copy(
        update={"model_calls": model_calls, "cost_usd": cost_usd, "reused_invocations": reused_invocations}
    )
    return view.model_copy(update={"counters": counters})


def _json_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode("utf-8"))


def _now() -> str:
    return rfc3339(workflow.now())


def _end(log: ProgressLog, state: RunState, error: dict[str, Any], status: int) -> RunEnd:
    log.set_state(state)
    return RunEnd(state=state, finished_at=_now(), error=error, error_status=status)


def _upsert_state(state: RunState) -> None:
    workflow.upsert_search_attributes([STATE_KEY.value_set(state.value)])  # pyright: ignore[reportUnknownMemberType] -- the SDK's union parameter is partly untyped


async def _budget_ledger(spec: RunSpec) -> str | None:
    """The id of the run's budget ledger, a child workflow started here (ended with the run), where
    every model call reserves its worst case; None, and no command at all, for a run without a budget."""
    if spec.budget is None:
        return None
    ledger_id = budget_workflow_id(workflow.info().workflow_id)
    await workflow.start_child_workflow(
        RUN_BUDGET_WORKFLOW,
        RunBudgetStart(run_id=spec.run_id, budget=spec.budget),
        id=ledger_id,
        task_queue=workflow.info().task_queue,
        parent_close_policy=workflow.ParentClosePolicy.TERMINATE,
    )
    return ledger_id


def reuses_memo(spec: RunSpec) -> bool:
    """Whether the run may reuse memo entries (a resumed run, or `"reuse": "tenant"`)."""
    return bool(spec.reuse_runs or spec.reuse_tenant)


def memo_scope(spec: RunSpec, policy: ActivityPolicy) -> MemoScope | None:
    """What the run's invocations may reuse (its lineage, or the tenant's runs) and whether they write
    their own entries; None when the memo is off and the run reuses nothing."""
    if not (policy.memo_enabled or spec.reuse_runs or spec.reuse_tenant):
        return None
    return MemoScope(
        reuse_runs=spec.reuse_runs,
        reuse_tenant=spec.reuse_tenant,
        retention_days=policy.memo_retention_days,
        write=policy.memo_enabled,
    )
