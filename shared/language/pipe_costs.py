"""How many activities one run of a pipe schedules, known from the library alone. Pure.

A batch leaves its workflow when its branch needs activities (docs/design/large-batches.md), and a
chunk's size is cut so that its items' activities keep the chunk's history under its bound.
"""

from __future__ import annotations

from shared.language.library import Library
from shared.language.pipe_blueprints import (
    BindingStep,
    PipeBatch,
    PipeCompose,
    PipeCondition,
    PipeSequence,
)
from shared.language.pipe_cycles import callees

# A nested batch that leaves the workflow costs its parent a few steps whatever its size: the store of
# its input, the batch child workflow, and nothing per item.
DELEGATED_BATCH_STEPS = 3


class PipeCosts:
    """Activities per run of each pipe (the most any path through its conditions takes), cached."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self._steps: dict[str, int] = {}

    def activity_steps(self, ref: str) -> int:
        cached = self._steps.get(ref)
        if cached is None:
            cached = self._steps[ref] = self._count(ref)
        return cached

    def needs_activities(self, ref: str) -> bool:
        return self.activity_steps(ref) > 0

    def _count(self, ref: str) -> int:
        entry = self.library.pipes.get(ref)
        if entry is None or entry.is_signature:
            return 1  # unknown to this library: assume it calls out
        blueprint = entry.blueprint
        if isinstance(blueprint, PipeSequence):
            total = 0
            for step in blueprint.steps:
                if isinstance(step, BindingStep):
                    continue
                callee = self.library.resolve_pipe(step.pipe, entry.domain)
                steps = self.activity_steps(callee) if callee is not None else 1
                # A `batch_over` step is a nested batch: it leaves the workflow when its pipe calls out.
                total += (DELEGATED_BATCH_STEPS if steps else 0) if step.batch_over is not None else steps
            return total
        inner = [self.activity_steps(callee) for callee in callees(self.library, entry)]
        if isinstance(blueprint, PipeBatch):
            return DELEGATED_BATCH_STEPS if any(inner) else 0
        if isinstance(blueprint, PipeCondition):
            return max(inner, default=0)
        if inner:  # a parallel: every branch runs
            return sum(inner)
        return 0 if isinstance(blueprint, PipeCompose) else 1
