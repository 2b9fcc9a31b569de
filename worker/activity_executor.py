"""The workflow's operator executor: each operator call becomes one `run_operator` activity.

Workflow code (deterministic): it only schedules activities and turns their failures back into the
`PipeRunError` the interpreter understands.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, TimeoutType
from temporalio.exceptions import TimeoutError as ActivityTimeoutError

from shared.language.library import PipeEntry
from shared.runs.batch_io import RunScope
from shared.runs.names import RUN_OPERATOR_ACTIVITY
from shared.runs.workflow_io import (
    STEP_PAYLOAD_MAX_BYTES,
    BindingAsk,
    OperatorAnswer,
    OperatorTask,
    StuffPayload,
)
from shared.runtime.binding_values import Bound
from shared.runtime.call_site import TEXT
from shared.runtime.json_values import as_mapping
from shared.runtime.operator_call import OperatorCall, OutputTarget, Produced
from shared.runtime.run_failure import FailureCode, PipeRunError
from shared.runtime.stuff import Stuff
from shared.runtime.usage import UsageRecord, total_cost
from worker.memo_lookups import MemoLookups

_TIMEOUT_CODES: dict[str, str] = {
    **dict.fromkeys(
        ("PipeLLM", "PipeJudge", "PipeStructure", "PipeSearch", "PipeImgGen", "PipeExtract"),
        FailureCode.PROVIDER_TIMEOUT,
    ),
    "PipeFunc": FailureCode.FUNCTION_FAILED,
    "PipeDocGen": FailureCode.DOCUMENT_FAILED,
}


@dataclass(slots=True)
class ReusedTally:
    """Invocations answered from the memo and what their original calls cost: this run spent none of it."""

    invocations: int = 0
    cost_usd: float | None = None

    def add(self, invocations: int, cost_usd: float | None) -> None:
        self.invocations += invocations
        if cost_usd is not None:
            self.cost_usd = round((self.cost_usd or 0) + cost_usd, 10)

    def add_answer(self, usages: Iterable[UsageRecord]) -> None:
        self.add(1, total_cost(usages))


class ActivityOperatorExecutor:
    """An `OperatorExecutor` that runs every operator as a retried, heartbeating activity."""

    def __init__(
        self,
        scope: RunScope,
        *,
        summaries: bool = True,
        memo_lookups: bool = False,
        operator_slots: int | None = None,
    ) -> None:
        self.scope = scope
        # At most this many operator activities at once (None: as many as the walk runs invocations):
        # a chunk that lets all its items ask the memo together still runs the others' calls bounded.
        self.slots = asyncio.Semaphore(operator_slots) if operator_slots is not None else None
        # A run that may reuse memo entries asks for them in one activity per gathering of invocations
        # (`memo_lookups.py`), when its workflow asked for it (a patch: older histories replay without).
        memo = scope.memo
        reuses = memo is not None and bool(memo.reuse_runs or memo.reuse_tenant)
        self.lookups = MemoLookups(memo) if memo_lookups and memo is not None and reuses else None
        # Each activity named by its pipe in Temporal's UI. A chunk's activities all run its one branch
        # pipe, which the chunk's own summary names: there the summary is left out, since it is one more
        # payload per item to encode and visit (bench/batch.py, docs/design/large-batches.md).
        self.summaries = summaries
        self.policy = policy = scope.policy
        # Every model call's usage record, in completion order, for the run's `tokens_usages`.
        self.usages: list[UsageRecord] = []
        # Invocations answered from the memo: their records are another run's calls, counted apart.
        self.reused = ReusedTally()
        self.made = 0  # operator invocations this walk ran (not answered from the memo)
        self.retry_policy = RetryPolicy(
            initial_interval=timedelta(seconds=policy.initial_interval_seconds),
            backoff_coefficient=2.0,
            maximum_interval=timedelta(seconds=policy.max_interval_seconds),
            maximum_attempts=policy.max_attempts,
        )

    async def render_condition(self, pipe: PipeEntry, inputs: Mapping[str, Stuff]) -> str:
        """A condition's expression rendered by the operator activity, which reads stored inputs back."""
        call = OperatorCall(pipe, inputs, OutputTarget(TEXT), seed=f"{self.scope.run_id}:{pipe.ref}")
        produced = await self.run_operator(call)
        content = as_mapping(produced.content) or {}
        return str(content.get("text", ""))

    async def bind_stored(
        self, pipe: PipeEntry, held: Stuff, root: str, segments: list[str], concept: str | None, to_list: bool
    ) -> Bound:
        """A binding into a stored content, walked by the operator activity (which stores what it
        reached when that is over `CONTENT_INLINE_MAX_KIB` too)."""
        call = OperatorCall(
            pipe, {root: held}, OutputTarget(concept or TEXT), seed=f"{self.scope.run_id}:{pipe.ref}"
        )
        ask = BindingAsk(root=root, segments=segments, concept=concept, to_list=to_list)
        answer = await self._answer(call, ask)
        return Bound(answer.concept or "", answer.content, answer.is_list, answer.empty)

    async def run_operator(self, call: OperatorCall) -> Produced:
        answer = await self._answer(call)
        if answer.reused_from is not None:
            # Not made again: neither a model call nor a cost of this run (`RunEnd.reused_*`).
            self.reused.add_answer(answer.usages)
            return Produced(answer.content, answer.concept, reused_from=answer.reused_from)
        self.made += 1
        self.usages.extend(answer.usages)
        return Produced(answer.content, answer.concept, tuple(answer.usages))

    async def _answer(self, call: OperatorCall, binding: BindingAsk | None = None) -> OperatorAnswer:
        task = operator_task(self.scope, call, binding)
        size = _check_step_size(task, call.pipe.code)
        if binding is None and self.lookups is not None:
            looked = await self.lookups.look_up(task, size)
            if looked.answer is not None:
                return looked.answer  # no operator activity at all
            if looked.missing:  # nothing to reuse: its activity runs it without looking again
                task = task.model_copy(update={"memo": self.lookups.write_only})
        if self.slots is None:
            return await self._executed(call, task)
        async with self.slots:
            return await self._executed(call, task)

    async def _executed(self, call: OperatorCall, task: OperatorTask) -> OperatorAnswer:
        """The operator activity's answer to `task`; its final failure as the interpreter's `PipeRunError`."""
        binding = task.binding
        try:
            answer = await workflow.execute_activity(
                RUN_OPERATOR_ACTIVITY,
                task,
                result_type=OperatorAnswer,
                start_to_close_timeout=timedelta(seconds=self.policy.start_to_close_seconds),
                heartbeat_timeout=timedelta(seconds=self.policy.heartbeat_seconds),
                retry_policy=self.retry_policy,
                summary=call.pipe.ref if self.summaries else None,
                # A binding is bookkeeping: it stays on the workflow's queue whatever its pipe's kind.
                task_queue=None
                if binding is not None
                else self.policy.routing.queue_for(
                    call.pipe.blueprint, call.output.concept, call.output.is_list
                ),
            )
        except ActivityError as exc:
            if isinstance(exc.cause, CancelledError):
                # The run is being cancelled (or timed out): not a pipe failure.
                raise asyncio.CancelledError from exc
            raise pipe_failure(exc, call.pipe.code, call.pipe.blueprint.type) from exc
        return answer


def operator_task(scope: RunScope, call: OperatorCall, binding: BindingAsk | None = None) -> OperatorTask:
    """The operator activity's task for `call` in `scope` (its memo key is computed from it; a chunk's
    reuse walk builds the same task so that it finds the same entries: `worker/memo_walk.py`)."""
    return OperatorTask(
        run_id=scope.run_id,
        storage_prefix=scope.storage_prefix,
        method_digest=scope.method_digest,
        pipe_ref=call.pipe.ref,
        inputs={
            name: StuffPayload(
                name=stuff.name,
                code=stuff.code,
                concept=stuff.concept,
                content=stuff.content,
                is_list=stuff.is_list,
            )
            for name, stuff in call.inputs.items()
        },
        output_concept=call.output.concept,
        output_is_list=call.output.is_list,
        output_count=call.output.count,
        seed=call.seed,
        nb_output=call.nb_output,
        binding=binding,
        memo=scope.memo,
        budget=scope.budget,
    )


def _check_step_size(task: OperatorTask, pipe_code: str) -> int:
    """Refuse, typed, a step whose inputs Temporal would refuse to carry (the run would be stuck);
    the size of its inputs' contents in bytes."""
    size = len(
        json.dumps([stuff.content for stuff in task.inputs.values()], ensure_ascii=False).encode("utf-8")
    )
    if size > STEP_PAYLOAD_MAX_BYTES:
        raise PipeRunError(
            FailureCode.PAYLOAD_TOO_LARGE,
            f"the inputs of '{pipe_code}' have {size} bytes, over the {STEP_PAYLOAD_MAX_BYTES} a run step may carry",
            pipe=pipe_code,
            params={"size": size, "limit": STEP_PAYLOAD_MAX_BYTES},
        )
    return size


def pipe_failure(exc: ActivityError, pipe_code: str, pipe_type: str = "") -> PipeRunError:
    """The interpreter's failure for an activity that failed for good (non-retryable, or out of attempts)."""
    cause = exc.cause
    if isinstance(cause, ApplicationError) and cause.details and isinstance(cause.details[0], dict):
        details: dict[str, object] = cause.details[0]  # pyright: ignore[reportUnknownVariableType]
        code = str(details.get("code") or FailureCode.RUNTIME_UNEXPECTED)
        pipe = details.get("pipe")
        params = details.get("params")
        return PipeRunError(
            code,
            str(details.get("message") or cause.message),
            pipe=pipe if isinstance(pipe, str) else pipe_code,
            retryable=details.get("retryable") is True,
            params=params if isinstance(params, dict) else None,  # pyright: ignore[reportUnknownArgumentType]
        )
    if isinstance(cause, ActivityTimeoutError) and cause.type == TimeoutType.HEARTBEAT:
        # The worker running it went silent (stopped, frozen, cut off) on the last attempt: nothing
        # says the pipe is at fault, and the same run again may well pass.
        message = (
            f"the worker running the pipe '{pipe_code}' stopped answering (no heartbeat), after every attempt"
        )
        return PipeRunError(
            FailureCode.RUNTIME_UNAVAILABLE,
            message,
            pipe=pipe_code,
            retryable=True,
            params={"timeout": "heartbeat"},
        )
    if isinstance(cause, ActivityTimeoutError):
        message = f"the pipe '{pipe_code}' did not finish in time ({cause.type.name if cause.type else 'timeout'}), after every attempt"
        # What hangs a model-backed pipe is its provider (or the file it fetches); a hung function or
        # document is the pipe's own fault. Either way, the code names the kind of fault, not a bug of ours.
        code = _TIMEOUT_CODES.get(pipe_type, FailureCode.RUNTIME_UNEXPECTED)
        return PipeRunError(code, message, pipe=pipe_code, retryable=code == FailureCode.PROVIDER_TIMEOUT)
    if isinstance(cause, ApplicationError):
        message = (
            f"the pipe '{pipe_code}' failed after every attempt: {cause.type or 'error'}: {cause.message}"
        )
    else:
        message = f"the pipe '{pipe_code}' failed: {exc.message}"
    return PipeRunError(FailureCode.RUNTIME_UNEXPECTED, message, pipe=pipe_code)
