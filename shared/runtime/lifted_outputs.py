"""What a pipe skipped for an absent input leaves in working memory (mthds.md §4.4). Pure.

A skipped pipe's output is recorded absent, except a list: a list is never absent (`X[]?` does not
exist, §1.6), so a skip leaves an empty list, as the reference does (its optionals design, D4). The
names an `add_each_output` parallel would also have stored resolve the same way, so a later reader
meets an absence to skip on, or an empty list, never a name that nothing holds. A binding whose
root is absent follows the same rule: one that derives a list binds an empty one (§2.11 rule 4).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.language.bindings import BindingPathFault, walk_binding
from shared.language.concept_spec import Multiplicity
from shared.language.natives import NATIVE_DOMAIN
from shared.language.pipe_blueprints import PipeParallel, PipeSequence, PipeStep
from shared.language.slots import Slot
from shared.runtime.call_site import CallSite, snake_case
from shared.runtime.stuff import Absence, AbsenceKind, Stuff, Value
from shared.runtime.working_memory import WorkingMemory

if TYPE_CHECKING:
    from shared.language.library import PipeEntry
    from shared.runtime.interpreter import Interpreter
    from shared.runtime.operator_call import OutputTarget

_DYNAMIC = f"{NATIVE_DOMAIN}.Dynamic"


class LiftedOutputs:
    """The values a skip resolves to, for the interpreter's gate and for bindings over absent roots."""

    def __init__(self, interpreter: Interpreter) -> None:
        self.interpreter = interpreter

    def lift(self, entry: PipeEntry, target: OutputTarget, memory: WorkingMemory, skipped: Absence) -> Value:
        """The output of `entry` skipped at its gate (`skipped` says why); its branch results land in `memory`."""
        self._lift_branch_results(entry, memory, skipped)
        if target.is_list:
            return self.empty_list(target.concept)
        return skipped

    def empty_list(self, concept: str) -> Stuff:
        if concept == _DYNAMIC:
            concept = self.interpreter.options.dynamic_output_concept
        name = snake_case(concept.rpartition(".")[2])
        return self.interpreter.new_stuff(name, concept, {"items": []}, is_list=True)

    def binding_list(self, entry: PipeEntry, root: str, segments: list[str]) -> str | None:
        """The item concept of the list the binding `root.segments` in `entry` derives, when the static walk
        knows it derives one (from the declared input, or the step that stores `root`); else None."""
        root_slot = self._root_slot(entry, root)
        if root_slot is None:
            return None
        try:
            slot = walk_binding(self.interpreter.library, root_slot, segments)
        except BindingPathFault:
            return None  # validated: unreachable, and the absence it leaves is as safe
        return slot.concept if slot.is_list else None

    def _root_slot(self, entry: PipeEntry, root: str) -> Slot | None:
        interpreter = self.interpreter
        declared = interpreter.contracts.of(entry).inputs.get(root)
        if declared is not None:
            return Slot(declared.concept, declared.spec.multiplicity)
        blueprint = entry.blueprint
        if not isinstance(blueprint, PipeSequence):
            return None
        producer: PipeStep | None = None
        for step in blueprint.steps:
            if isinstance(step, PipeStep) and step.result == root:
                producer = step  # the last step storing `root` is the one a later binding reads
        if producer is None:
            return None
        callee = interpreter.callee(entry, producer.pipe)
        target = interpreter.output_target(
            interpreter.contracts.of(callee),
            CallSite(producer.result, producer.nb_output, producer.multiple_output),
        )
        is_list = target.is_list or producer.batch_over is not None
        return Slot(target.concept, Multiplicity.VARIABLE if is_list else Multiplicity.SINGLE)

    def _lift_branch_results(self, entry: PipeEntry, memory: WorkingMemory, skipped: Absence) -> None:
        """A skipped PipeParallel with `add_each_output`: each named branch result it would have stored."""
        blueprint = entry.blueprint
        if not isinstance(blueprint, PipeParallel) or not blueprint.add_each_output:
            return
        interpreter = self.interpreter
        for step in blueprint.branches:
            if step.result is None:
                continue
            callee = interpreter.callee(entry, step.pipe)
            target = interpreter.output_target(
                interpreter.contracts.of(callee), CallSite(step.result, step.nb_output, step.multiple_output)
            )
            if target.is_list or step.batch_over is not None:
                memory.put(step.result, self.empty_list(target.concept), main=False)
            else:
                absence = Absence(
                    step.result, AbsenceKind.SKIPPED, skipped.reason, entry.code, skipped.upstream
                )
                memory.put(step.result, absence, main=False)
