"""The operator activity: one model-backed or side-effecting pipe (PipeFunc, PipeDocGen, PipeLLM...) per call.

Failures that retrying cannot fix (the method, the inputs, a missing model) leave as non-retryable
`ApplicationError`s whose type is the problem code; anything else is retried by the activity's policy.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import AsyncGenerator, Generator
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from shared.language.library import Library
from shared.language.model_deck import ModelDeck, builtin_deck
from shared.language.pipe_blueprints import PipeCompose, PipeCondition
from shared.language.validator import LibraryUnusable
from shared.runs.names import (
    PAUSE_ACTIVITY,
    RUN_OPERATOR_ACTIVITY,
    STORE_RUN_OUTPUT_ACTIVITY,
    WORKER_POLICY_ACTIVITY,
)
from shared.runs.tenant_budget_io import TenantLimits
from shared.runs.workflow_io import (
    STEP_PAYLOAD_MAX_BYTES,
    ActivityPolicy,
    BindingAsk,
    OperatorAnswer,
    OperatorTask,
    StoreOutputTask,
)
from shared.runtime.binding_values import bind_content
from shared.runtime.compose import run_compose
from shared.runtime.condition_render import render_condition
from shared.runtime.content_values import ContentRefused, ContentValidator
from shared.runtime.function_registry import FunctionRegistry
from shared.runtime.json_values import as_list, as_mapping
from shared.runtime.operator_call import OperatorCall, OutputTarget, Produced
from shared.runtime.run_failure import FailureCode, PipeRunError
from shared.runtime.stuff import Stuff
from shared.storage.blob_store import STORAGE_SCHEME, BlobNotFoundError, BlobStore, StorageUnavailableError
from shared.storage.run_storage import run_key
from shared.storage.stored_contents import json_size, resolve_content, store_content
from worker.files.input_files import InputFiles
from worker.memo_steps import MemoSteps
from worker.method_cache import MethodCache
from worker.metrics import note_pipe_type, record_usages
from worker.operators import call_budget
from worker.operators.local import LocalOperatorExecutor
from worker.operators.tenant_calls import TenantCallBudget
from worker.providers.registry import ProviderRegistry

logger = logging.getLogger(__name__)

# BUDGET_MAX_OUTPUT_TOKENS's default (`worker/settings.py`).
DEFAULT_BUDGET_MAX_OUTPUT_TOKENS = 4096


def failure_details(failure: PipeRunError) -> dict[str, object]:
    """What the workflow needs to rebuild the `PipeRunError` on its side."""
    return {
        "code": failure.code,
        "message": failure.message,
        "pipe": failure.pipe,
        "params": failure.params,
        "retryable": failure.retryable,
    }


def as_application_error(failure: PipeRunError) -> ApplicationError:
    """The failure for Temporal; a provider's `retry_after` (in `params`) sets the next attempt's delay."""
    retry_after = failure.params.get("retry_after")
    delay = (
        timedelta(seconds=retry_after)
        if isinstance(retry_after, int | float) and not isinstance(retry_after, bool) and retry_after > 0
        else None
    )
    return ApplicationError(
        failure.message,
        failure_details(failure),
        type=failure.code,
        non_retryable=not failure.retryable,
        next_retry_delay=delay,
    )


class OperatorActivities:
    """The worker's activities; one instance per worker process holds the store, the method cache, the
    model deck and the provider clients (close them with `aclose`)."""

    def __init__(
        self,
        store: BlobStore,
        functions: FunctionRegistry,
        policy: ActivityPolicy,
        *,
        deck: ModelDeck | None = None,
        providers: ProviderRegistry | None = None,
        files: InputFiles | None = None,
        budget_max_output_tokens: int = DEFAULT_BUDGET_MAX_OUTPUT_TOKENS,
        tenant_limits: TenantLimits | None = None,
        tenant_queue: str | None = None,
    ) -> None:
        self.store = store
        self.functions = functions
        self.policy = policy
        self.methods = MethodCache(store)
        self.deck = deck or builtin_deck()
        self.providers = providers or ProviderRegistry()
        self.files = files or InputFiles(store)
        self.memo = MemoSteps(store, functions)
        # The output cap of a budgeted run's model calls whose pipe sets no `max_tokens`.
        self.budget_max_output_tokens = budget_max_output_tokens
        # Per-tenant limits (None: none), enforced by each tenant's ledger on the main queue `tenant_queue`.
        self.tenant_limits = tenant_limits
        self.tenant_queue = tenant_queue

    async def aclose(self) -> None:
        """Close the provider clients."""
        await self.providers.aclose()

    @activity.defn(name=PAUSE_ACTIVITY)
    async def pause(self) -> None:
        """Nothing: awaiting it ends the workflow's current activation without a trip to the server."""

    @activity.defn(name=WORKER_POLICY_ACTIVITY)
    async def worker_policy(self) -> ActivityPolicy:
        """The worker's retry and timeout settings, recorded in the run's history once."""
        return self.policy

    @activity.defn(name=RUN_OPERATOR_ACTIVITY)
    async def run_operator(self, task: OperatorTask) -> OperatorAnswer:
        with _storage_faults(task.pipe_ref.rpartition(".")[2]):
            return await self._run_operator(task)

    async def _run_operator(self, task: OperatorTask) -> OperatorAnswer:
        # Off the loop: a method-cache miss reads the method from storage (a blocking S3 GET), and the
        # memo is looked up there too. Only a run that may reuse pays that hop first; any other run's
        # key is computed with its answer, in the hop that stores it.
        memo_key: str | None = None
        memo = task.memo
        if memo is not None and (memo.reuse_runs or memo.reuse_tenant):
            memo_key, reused = await asyncio.to_thread(self._memo_lookup, task)
            if reused is not None:
                return reused  # answered by the run it resumes (or, asked, by another run of the tenant)
        call, executor = await asyncio.to_thread(self._prepare, task)
        note_pipe_type(call.pipe.blueprint.type)
        async with self._heartbeats():
            if task.binding is not None:
                return await asyncio.to_thread(self._bound, task, task.binding, call)
            try:
                with call_budget.activated(self._gates(task, call), self.budget_max_output_tokens):
                    produced = await self._produce(call, executor)
                answer = await asyncio.to_thread(self._answer, task, call, produced, memo_key)
            except PipeRunError as failure:
                raise as_application_error(failure.located(call.pipe.code)) from failure
        record_usages(answer.usages)
        return answer

    def _gates(self, task: OperatorTask, call: OperatorCall) -> list[call_budget.Gate]:
        """The ledgers this attempt's model calls reserve with: the run's budget, if it has one, and its
        tenant's, if the worker limits tenants; none, and no round trip, otherwise."""
        gates: list[call_budget.Gate] = []
        if task.budget is None and self.tenant_limits is None:
            return gates
        info = activity.info()
        lifetime = info.start_to_close_timeout or timedelta(seconds=self.policy.start_to_close_seconds)
        attempt_key = f"{info.workflow_id}/{info.activity_id}/{info.attempt}"
        if task.budget is not None:
            gates.append(
                call_budget.CallBudget(
                    client=activity.client(),
                    ledger_id=task.budget,
                    pipe=call.pipe.code,
                    attempt_key=attempt_key,
                    expires_in_seconds=lifetime.total_seconds(),
                )
            )
        if self.tenant_limits is not None and self.tenant_queue is not None:
            gates.append(
                TenantCallBudget(
                    client=activity.client(),
                    tenant_key=task.storage_prefix,  # the tenant's key (`api/auth.py`)
                    task_queue=self.tenant_queue,
                    limits=self.tenant_limits,
                    pipe=call.pipe.code,
                    attempt_key=attempt_key,
                    expires_in_seconds=lifetime.total_seconds(),
                )
            )
        return gates

    def _memo_lookup(self, task: OperatorTask) -> tuple[str | None, OperatorAnswer | None]:
        """The task's memo key (None when its run keeps no memo) and the answer it may reuse, if any."""
        if task.memo is None or task.binding is not None:
            return None, None
        key = self.memo.key(task, self._library(task))
        return key, self.memo.reused(task, key)

    def _answer(
        self, task: OperatorTask, call: OperatorCall, produced: Produced, memo_key: str | None
    ) -> OperatorAnswer:
        """The answer of a completed invocation (its output stored when large), written to the memo."""
        content = self._stored_if_large(task, call, produced)
        answer = OperatorAnswer(content=content, concept=produced.concept, usages=list(produced.usages))
        size = len(json.dumps(answer.content, ensure_ascii=False).encode("utf-8"))
        if size > STEP_PAYLOAD_MAX_BYTES:
            raise PipeRunError(
                FailureCode.PAYLOAD_TOO_LARGE,
                f"the output of '{call.pipe.code}' has {size} bytes, over the {STEP_PAYLOAD_MAX_BYTES} a run step may carry",
                pipe=call.pipe.code,
                params={"size": size, "limit": STEP_PAYLOAD_MAX_BYTES},
            )
        if memo_key is None and task.memo is not None and task.memo.write and task.binding is None:
            memo_key = self.memo.key(task, self._library(task))
        self.memo.remember(task, memo_key, answer)
        return answer

    async def _produce(self, call: OperatorCall, executor: LocalOperatorExecutor) -> Produced:
        """Run the operator; the pure steps the walk hands over because an input is stored (a compose,
        a condition's expression) run here over the contents read back."""
        blueprint = call.pipe.blueprint
        if isinstance(blueprint, PipeCompose):
            return run_compose(call, executor.views, ContentValidator(executor.library))
        if isinstance(blueprint, PipeCondition):
            variables = executor.views.variables(call.inputs.values())
            return Produced({"text": render_condition(blueprint, variables)})
        return await executor.run_operator(call)

    def _bound(self, task: OperatorTask, ask: BindingAsk, call: OperatorCall) -> OperatorAnswer:
        """A binding step walked into its stored input, read back; what it reached is stored again when
        it is over `content_inline_max_bytes` (the walk moves its marker)."""
        held = call.inputs[ask.root]
        bound = bind_content(held.content, held.is_list, ask.root, ask.segments, ask.concept, ask.to_list)
        content = bound.content
        if bound.empty is None and json_size(content) > self.policy.content_inline_max_bytes:
            content = store_content(self.store, _content_key(task), content, is_list=bound.is_list)
        return OperatorAnswer(
            content=content, concept=bound.concept, is_list=bound.is_list, empty=bound.empty
        )

    def _stored_if_large(self, task: OperatorTask, call: OperatorCall, produced: Produced) -> Any:
        """The output's content, or, over `content_inline_max_bytes`, the marker of its stored copy
        (checked against the output concept first: the walk does not read it back to check it)."""
        size = json_size(produced.content)
        if size <= self.policy.content_inline_max_bytes or isinstance(call.pipe.blueprint, PipeCondition):
            return produced.content
        concept = produced.concept or task.output_concept
        validator = ContentValidator(self.methods.library(task.method_digest))
        try:
            if task.output_is_list:
                items = as_list((as_mapping(produced.content) or {}).get("items")) or []
                content: Any = validator.validate_list(concept, items)
            else:
                content = validator.validate(concept, produced.content)
        except ContentRefused as refused:
            raise PipeRunError(
                FailureCode.OUTPUT_INVALID,
                f"pipe '{call.pipe.code}' produced a content that does not fit '{concept}': {refused}",
                params={"fields": refused.fields},
            ) from refused
        return store_content(self.store, _content_key(task), content, is_list=task.output_is_list)

    @activity.defn(name=STORE_RUN_OUTPUT_ACTIVITY)
    async def store_run_output(self, task: StoreOutputTask) -> str:
        """Write one part of a large final working memory; the last part writes the whole document,
        whose URI the run's result then carries. Parts keep every payload under Temporal's limit.
        """
        with _storage_faults(None):
            return await asyncio.to_thread(self._store_part, task)

    def _store_part(self, task: StoreOutputTask) -> str:
        whole = run_key(task.storage_prefix, task.run_id, task.name)
        if task.part < task.parts - 1:
            return self.store.put(f"{whole}.part-{task.part}", task.text.encode("utf-8"), "application/json")
        earlier = b"".join(
            self.store.get(f"{STORAGE_SCHEME}{whole}.part-{part}") for part in range(task.parts - 1)
        )
        return self.store.put(whole, earlier + task.text.encode("utf-8"), "application/json")

    def _library(self, task: OperatorTask) -> Library:
        try:
            return self.methods.library(task.method_digest)
        except (BlobNotFoundError, LibraryUnusable) as exc:
            failure = PipeRunError(
                FailureCode.RUNTIME_UNEXPECTED,
                f"the worker cannot load the run's method {task.method_digest[:12]}: {exc}",
                pipe=task.pipe_ref.rpartition(".")[2],
            )
            raise as_application_error(failure) from exc

    def _prepare(self, task: OperatorTask) -> tuple[OperatorCall, LocalOperatorExecutor]:
        library = self._library(task)
        entry = library.pipes[task.pipe_ref]
        # Stored contents are read back here: the workflow only moved their markers.
        inputs = {
            name: Stuff(
                stuff.name,
                stuff.code,
                stuff.concept,
                resolve_content(self.store, stuff.content),
                stuff.is_list,
            )
            for name, stuff in task.inputs.items()
        }
        call = OperatorCall(
            pipe=entry,
            inputs=inputs,
            output=OutputTarget(task.output_concept, task.output_is_list, task.output_count),
            seed=task.seed,
            nb_output=task.nb_output,
        )
        executor = LocalOperatorExecutor(
            library,
            self.store,
            run_key=run_key(task.storage_prefix, task.run_id, "files"),
            functions=self.functions,
            deck=self.deck,
            providers=self.providers,
            files=self.files,
        )
        return call, executor

    @asynccontextmanager
    async def _heartbeats(self) -> AsyncGenerator[None]:
        """Heartbeat while the operator runs, so a dead worker is noticed and a cancel is delivered."""
        interval = max(0.2, self.policy.heartbeat_seconds / 3)

        async def beat() -> None:
            while True:
                activity.heartbeat()
                await asyncio.sleep(interval)

        beating = asyncio.create_task(beat())
        try:
            yield
        finally:
            beating.cancel()


@contextmanager
def _storage_faults(pipe: str | None) -> Generator[None]:
    """A store that is down, full or refusing fails the attempt as `runtime.unavailable`, retried by the
    activity's policy; the cause (a path, a bucket, an endpoint) goes to the worker's log, not the run."""
    try:
        yield
    except StorageUnavailableError as exc:
        logger.warning("pipe %s: %s", pipe or "(run output)", exc)
        failure = PipeRunError(
            FailureCode.RUNTIME_UNAVAILABLE,
            "the run's storage cannot be reached or written",
            pipe=pipe,
            retryable=True,
        )
        raise as_application_error(failure) from exc


def _content_key(task: OperatorTask) -> str:
    """Where the activity stores a large content it answers: fixed by the activity, so a retry rewrites
    the same file."""
    info = activity.info()
    name = hashlib.sha256(f"{info.workflow_id}/{info.activity_id}".encode()).hexdigest()[:32]
    return run_key(task.storage_prefix, task.run_id, f"contents/{name}")
