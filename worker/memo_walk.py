"""A chunk's walk answered by the memo alone, in the worker (not in a workflow): the chunk reuse step.

The walk is the chunk workflow's own (the same interpreter over the same items, memory and options);
only its executor differs: each operator invocation builds the operator activity's task
(`activity_executor.operator_task`), so its memo key is the one the chunk would have looked up, and
takes the entry the run may reuse. Anything the memo cannot answer (an entry missing, a condition or a
binding over a stored content, a batch that would leave the walk) stops the walk with `MemoMiss`: the
chunk workflow then runs the chunk as before. So this step answers a chunk only when running it would
have made no call at all.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.language.library import Library, PipeEntry
from shared.runs.batch_io import BatchWork
from shared.runs.workflow_io import STEP_PAYLOAD_MAX_BYTES
from shared.runtime.batch_call import BatchCall, BatchOutcome
from shared.runtime.batch_failures import ItemFailure
from shared.runtime.binding_values import Bound
from shared.runtime.call_site import InvocationPath, RunOptions
from shared.runtime.interpreter import Interpreter
from shared.runtime.memory_codec import decode_memory
from shared.runtime.operator_call import OperatorCall, Produced
from shared.runtime.run_failure import PipeRunError
from shared.runtime.stuff import Stuff
from worker.activity_executor import ReusedTally, operator_task
from worker.memo_steps import MemoSteps


class MemoMiss(Exception):
    """The memo cannot answer one invocation of the walk: the chunk must run as a workflow."""


@dataclass(slots=True)
class MemoOnlyExecutor:
    """An operator executor that answers every invocation from the memo, or raises `MemoMiss`."""

    work: BatchWork
    library: Library
    memo: MemoSteps
    reused: ReusedTally = field(default_factory=ReusedTally)

    async def run_operator(self, call: OperatorCall) -> Produced:
        task = operator_task(self.work.scope, call)
        size = len(json.dumps([stuff.content for stuff in task.inputs.values()], ensure_ascii=False).encode())
        if size > STEP_PAYLOAD_MAX_BYTES:
            raise MemoMiss  # the chunk workflow refuses it, typed
        answer = self.memo.reused(task, self.memo.key(task, self.library))
        if answer is None:
            raise MemoMiss
        self.reused.add_answer(answer.usages)
        return Produced(answer.content, answer.concept, reused_from=answer.reused_from)

    async def render_condition(self, pipe: PipeEntry, inputs: Mapping[str, Stuff]) -> str:  # noqa: ARG002 -- the protocol's signature
        raise MemoMiss  # read by an operator activity in the chunk: left to the chunk

    async def bind_stored(
        self,
        pipe: PipeEntry,  # noqa: ARG002 -- the protocol's signature
        held: Stuff,  # noqa: ARG002
        root: str,  # noqa: ARG002
        segments: list[str],  # noqa: ARG002
        concept: str | None,  # noqa: ARG002
        to_list: bool,  # noqa: ARG002
    ) -> Bound:
        raise MemoMiss  # bindings are never memoized


@dataclass(slots=True)
class _NoBatches:
    """A walk's batch runner that refuses every batch that would leave the chunk's walk: such a batch
    runs as workflows, so only the chunk workflow may run it."""

    inline_max_items: int

    async def run_batch(self, call: BatchCall) -> BatchOutcome:  # noqa: ARG002 -- the protocol's signature
        raise MemoMiss


@dataclass(frozen=True, slots=True)
class MemoWalk:
    """The chunk's outputs in item order, and the invocations the memo answered."""

    outputs: list[Stuff]
    reused: ReusedTally


async def walk_from_memo(
    work: BatchWork,
    library: Library,
    memo: MemoSteps,
    context: dict[str, Any],
    items: list[Any],
    index: int,
    start: int,
) -> MemoWalk:
    """Walk the chunk `index` (its `items`, the first numbered `start`) as its workflow would, answered by
    the memo; raises `MemoMiss` when any invocation of any item is not in it."""
    scope = work.scope
    executor = MemoOnlyExecutor(work, library, memo)
    failed_items: list[ItemFailure] = []
    interpreter = Interpreter(
        library,
        executor,
        RunOptions(
            dynamic_output_concept=scope.dynamic_output_concept,
            concurrency=max(1, len(items)),
            seed=f"{scope.run_id}:{work.batch_path}:{index}",
            batch_failures=scope.batch_failures,
            failed_items=failed_items,
            batches=_NoBatches(scope.policy.batch_inline_max_items),
        ),
    )
    try:
        results = await interpreter.controllers.run_items(
            library.pipes[work.batch_pipe_ref],
            library.pipes[work.branch_pipe_ref],
            decode_memory(context),
            work.item_concept,
            work.item_name,
            InvocationPath(tuple(work.batch_path.split("/"))),
            items,
            start,
        )
    except PipeRunError as failure:
        raise MemoMiss from failure  # an item failed in the walk itself: the chunk workflow reports it
    outputs = [result for result in results if isinstance(result, Stuff)]
    if len(outputs) != len(items) or failed_items:
        raise MemoMiss  # an item failed in the walk itself: the chunk workflow records it
    return MemoWalk(outputs, executor.reused)
