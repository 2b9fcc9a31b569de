"""Static wiring of controllers: names available at each step, concepts and multiplicities that meet,
absences that may escape (mthds.md §2.11 to 2.14, §4.4). Pure.

A fault leaves an UNKNOWN slot behind, which fits anything, so one fault is reported once and not
again by every step downstream of it.
"""

from __future__ import annotations

from dataclasses import replace

from shared.language.bindings import BindingPathFault, walk_binding
from shared.language.check_context import CheckContext
from shared.language.concept_compat import satisfies
from shared.language.concept_spec import ConceptSpec, Multiplicity, Presence
from shared.language.issues import ErrorType
from shared.language.library import PipeEntry
from shared.language.pipe_blueprints import (
    BindingStep,
    PipeBatch,
    PipeCondition,
    PipeParallel,
    PipeSequence,
    PipeStep,
)
from shared.language.slots import UNKNOWN, Slot, multiplicity_fits, slot_of_spec
from shared.language.template_analysis import (
    TemplateCategory,
    TemplateSyntaxFault,
    analyze_expression,
    analyze_template,
)

_SPECIAL_OUTCOMES = frozenset({"fail", "continue"})


class ControllerChecker:
    """Checks one controller pipe; `context` collects the issues."""

    def __init__(self, context: CheckContext, entry: PipeEntry) -> None:
        self.context = context
        self.entry = entry
        contract = context.contract(entry)
        self.available: dict[str, Slot] = {
            name: slot_of_spec(spec, ref) if ref is not None else UNKNOWN
            for name, (spec, ref) in contract.inputs.items()
        }
        self.declared = set(self.available)
        self.used: set[str] = set()

    def check(self) -> None:
        blueprint = self.entry.blueprint
        if isinstance(blueprint, PipeSequence):
            self._sequence(blueprint)
        elif isinstance(blueprint, PipeParallel):
            self._parallel(blueprint)
        elif isinstance(blueprint, PipeCondition):
            self._condition(blueprint)
        elif isinstance(blueprint, PipeBatch):
            self._batch(blueprint)
        unused = sorted(self.declared - self.used)
        if unused:
            self.context.report(
                self.entry,
                ErrorType.EXTRANEOUS_INPUT_VARIABLE,
                f"Pipe '{self.entry.code}' declares {', '.join(repr(n) for n in unused)} as input, "
                "but none of its steps reads it.",
                "inputs",
                variables=tuple(unused),
            )

    # -- controllers ------------------------------------------------------------------------------

    def _sequence(self, blueprint: PipeSequence) -> None:
        last = UNKNOWN
        for index, step in enumerate(blueprint.steps):
            where = f"steps[{index}]"
            if isinstance(step, BindingStep):
                last = self._bind(step.from_, where)
                self.available[step.result] = last
            else:
                last = self._run_step(step, where)
                if step.result is not None:
                    self.available[step.result] = last
        self._check_output(last, "the last step")

    def _parallel(self, blueprint: PipeParallel) -> None:
        results: dict[str, Slot] = {}
        for index, branch in enumerate(blueprint.branches):
            slot = self._run_step(branch, f"branches[{index}]")
            if branch.result is not None:
                results[branch.result] = slot
        spec, output = self.context.contract(self.entry).output
        if output is None:
            return
        if spec.is_list:
            self._report_output(
                ErrorType.INADEQUATE_OUTPUT_MULTIPLICITY, "a PipeParallel combines into one value"
            )
            return
        fields = self.context.library.structure_of(output)
        if output.endswith(".Composite") or output.endswith(".Dynamic") or output.endswith(".Anything"):
            return
        if fields is None:
            self._report_output(
                ErrorType.INADEQUATE_OUTPUT_CONCEPT,
                f"a PipeParallel combines into Composite or a structured concept, not '{spec.ref}'",
            )
            return
        for name, slot in results.items():
            field = fields.get(name)
            if field is not None and field.required and slot.maybe_absent:
                self.context.report(
                    self.entry,
                    ErrorType.OPTIONAL_BRANCH_REQUIRED_FIELD,
                    f"Pipe '{self.entry.code}': the branch '{name}' may be absent, "
                    f"but it feeds the required field '{name}' of '{spec.ref}'.",
                    "branches",
                    variables=(name,),
                )

    def _condition(self, blueprint: PipeCondition) -> None:
        try:
            if blueprint.expression is not None:
                roots = analyze_expression(blueprint.expression).roots
            else:
                roots = analyze_template(
                    blueprint.expression_template or "", TemplateCategory.EXPRESSION
                ).roots
        except TemplateSyntaxFault as fault:
            self.context.report(self.entry, None, f"Pipe '{self.entry.code}': {fault.message}", "expression")
            roots = frozenset[str]()
        missing = sorted(root for root in roots if root not in self.available)
        if missing:
            self.context.report(
                self.entry,
                ErrorType.MISSING_INPUT_VARIABLE,
                f"Pipe '{self.entry.code}' reads {', '.join(repr(n) for n in missing)} in its expression, "
                "which its inputs do not declare.",
                "expression",
                variables=tuple(missing),
            )
        self.used |= roots & self.declared
        outcomes = [*blueprint.outcomes.items(), ("default_outcome", blueprint.default_outcome)]
        continue_reachable = False
        for key, target in outcomes:
            where = "default_outcome" if key == "default_outcome" else f"outcomes.{key}"
            if target in _SPECIAL_OUTCOMES:
                continue_reachable |= target == "continue"
                continue
            # The outcome's result is the condition's output: if the outcome pipe may be skipped (a
            # plain input of it may be absent) or resolve absent, the output must be `X?` (§2.13, §4.4).
            produced = self._run_step(PipeStep(pipe=target), where)
            self._check_output(produced, f"the outcome pipe '{target}'")
        spec, _ = self.context.contract(self.entry).output
        if continue_reachable and spec.presence is not Presence.OPTIONAL:
            self.context.report(
                self.entry,
                ErrorType.OPTIONAL_OUTPUT_REQUIRED,
                f"Pipe '{self.entry.code}' can 'continue' without a result, so its output must be "
                f"declared optional ('{spec.render()}?').",
                "output",
            )

    def _batch(self, blueprint: PipeBatch) -> None:
        list_slot = self.available.get(blueprint.input_list_name)
        self.used.add(blueprint.input_list_name)
        if list_slot is None:
            item = UNKNOWN  # the name check of the blueprint stage already reported it
        elif list_slot.concept is not None and not list_slot.is_list:
            self.context.report(
                self.entry,
                ErrorType.INPUT_STUFF_SPEC_MISMATCH,
                f"Pipe '{self.entry.code}' batches over '{blueprint.input_list_name}', which is not a list.",
                "input_list_name",
            )
            item = UNKNOWN
        else:
            item = list_slot.as_item()
        step = PipeStep(pipe=blueprint.branch_pipe_code, result=None)
        produced = self._call(step, "branch_pipe_code", batch_item=(blueprint.input_item_name, item))
        self._check_output(
            _never_absent(produced.as_list()) if produced.concept is not None else produced, "the batch"
        )

    # -- steps ------------------------------------------------------------------------------------

    def _bind(self, path: str, where: str) -> Slot:
        root, *segments = path.split(".")
        slot = self.available.get(root)
        if slot is None:
            self.context.report(
                self.entry,
                ErrorType.MISSING_INPUT_VARIABLE,
                f"Pipe '{self.entry.code}' binds from '{root}', which is neither an input nor an earlier result.",
                f"{where}.from",
                variables=(root,),
            )
            return UNKNOWN
        self.used.add(root)
        try:
            return walk_binding(self.context.library, slot, segments)
        except BindingPathFault as fault:
            self.context.report(
                self.entry,
                ErrorType.BINDING_PATH_UNRESOLVED,
                f"Pipe '{self.entry.code}': {fault}.",
                f"{where}.from",
            )
            return UNKNOWN

    def _run_step(self, step: PipeStep, where: str) -> Slot:
        batch_item: tuple[str, Slot] | None = None
        if step.batch_over is not None and step.batch_as is not None:
            source = (
                self._bind(step.batch_over, where)
                if "." in step.batch_over
                else self._plain(step.batch_over, where)
            )
            if source.concept is not None and not source.is_list:
                self.context.report(
                    self.entry,
                    ErrorType.INPUT_STUFF_SPEC_MISMATCH,
                    f"Pipe '{self.entry.code}' batches over '{step.batch_over}', which holds "
                    f"'{source.describe()}', not a list.",
                    f"{where}.batch_over",
                )
                source = UNKNOWN
            batch_item = (step.batch_as, source.as_item())
        produced = self._call(step, where, batch_item=batch_item)
        if batch_item is not None and produced.concept is not None:
            return _never_absent(produced.as_list())
        return produced

    def _plain(self, name: str, where: str) -> Slot:
        slot = self.available.get(name)
        if slot is None:
            self.context.report(
                self.entry,
                ErrorType.MISSING_INPUT_VARIABLE,
                f"Pipe '{self.entry.code}' batches over '{name}', which is neither an input nor an earlier result.",
                f"{where}.batch_over",
                variables=(name,),
            )
            return UNKNOWN
        self.used.add(name)
        return slot

    def _call(self, step: PipeStep, where: str, *, batch_item: tuple[str, Slot] | None) -> Slot:
        """Check a call of `step.pipe` with the names available now; the slot its result fills."""
        library = self.context.library
        callee_ref = library.resolve_pipe(step.pipe, self.entry.domain)
        if callee_ref is None:
            package = "->" in step.pipe
            self.context.report(
                self.entry,
                ErrorType.UNRESOLVED_PACKAGE_DEPENDENCY if package else ErrorType.UNRESOLVED_PIPE_DEPENDENCY,
                f"Pipe '{self.entry.code}' calls '{step.pipe}', "
                + (
                    "a pipe of a package this service cannot fetch."
                    if package
                    else "which no bundle declares."
                ),
                f"{where}.pipe",
                params={"pipe_ref": step.pipe},
            )
            return UNKNOWN
        callee = library.pipes[callee_ref]
        contract = self.context.contract(callee)
        skipped = False
        for name, (spec, ref) in contract.inputs.items():
            is_item = batch_item is not None and name == batch_item[0]
            slot = batch_item[1] if batch_item is not None and is_item else self.available.get(name)
            if not is_item and name in self.available:
                self.used.add(name)
            if slot is None:
                if spec.presence is not Presence.OPTIONAL:
                    self.context.report(
                        self.entry,
                        ErrorType.MISSING_INPUT_VARIABLE,
                        f"Pipe '{self.entry.code}' calls '{callee.code}', which needs the input '{name}', "
                        "but nothing provides it at that point.",
                        f"{where}.pipe",
                        variables=(name,),
                    )
                continue
            if not self._fits(slot, spec, ref):
                self.context.report(
                    self.entry,
                    ErrorType.INPUT_STUFF_SPEC_MISMATCH,
                    f"Pipe '{self.entry.code}' gives '{callee.code}' its input '{name}' as "
                    f"'{slot.describe()}', where '{spec.render()}' is declared.",
                    f"{where}.pipe",
                    variables=(name,),
                )
            skipped |= slot.maybe_absent and spec.presence is Presence.PLAIN
        self._add_each_output(callee, skipped=skipped)
        produced = self.context.output_slot(callee)
        if step.nb_output is not None and produced.concept is not None:
            produced = replace(produced, multiplicity=Multiplicity.FIXED, count=step.nb_output)
            if step.nb_output == 1:
                produced = replace(produced, multiplicity=Multiplicity.SINGLE, count=None)
        elif step.multiple_output and produced.concept is not None:
            produced = produced.as_list()
        if produced.is_list:
            return _never_absent(produced)
        return replace(produced, maybe_absent=produced.maybe_absent or skipped)

    def _add_each_output(self, callee: PipeEntry, *, skipped: bool) -> None:
        """A parallel with `add_each_output` also stores each branch result in the caller's memory.

        A single result may be absent when the parallel is skipped (its branch results are then
        recorded absent too), when the branch's output is `X?`, or when the branch is skipped because a
        plain input of it may be absent inside the parallel (mthds.md §2.12, §4.4). A list result is
        never absent (`_never_absent`).
        """
        blueprint = callee.blueprint
        if not isinstance(blueprint, PipeParallel) or not blueprint.add_each_output:
            return
        library = self.context.library
        for branch in blueprint.branches:
            branch_ref = library.resolve_pipe(branch.pipe, callee.domain)
            if branch.result is None or branch_ref is None:
                continue
            branch_entry = library.pipes[branch_ref]
            slot = self.context.output_slot(branch_entry)
            if branch.nb_output is not None:
                is_list = branch.nb_output > 1
            else:
                is_list = bool(branch.multiple_output) or slot.is_list
            if branch.batch_over or is_list:
                self.available[branch.result] = _never_absent(slot.as_list())
                continue
            absent = skipped or slot.maybe_absent or self._branch_may_skip(callee, branch_entry)
            self.available[branch.result] = replace(slot, maybe_absent=absent)

    def _branch_may_skip(self, parallel: PipeEntry, branch: PipeEntry) -> bool:
        """Whether `branch` may be skipped inside `parallel`: a plain input of it that the parallel declares
        `X?` (a name the parallel does not declare is read as the caller holds it)."""
        declared = self.context.contract(parallel).inputs
        for name, (spec, _) in self.context.contract(branch).inputs.items():
            if spec.presence is not Presence.PLAIN:
                continue
            if name in declared:
                slot: Slot | None = slot_of_spec(*declared[name])
            else:
                slot = self.available.get(name)
            if slot is not None and slot.maybe_absent:
                return True
        return False

    def _fits(self, slot: Slot, spec: ConceptSpec, ref: str | None) -> bool:
        if slot.concept is None or ref is None:
            return True
        return multiplicity_fits(slot, spec) and satisfies(self.context.library, slot.concept, ref)

    # -- output -----------------------------------------------------------------------------------

    def _check_output(self, produced: Slot, what: str, *, absence: bool = True) -> None:
        spec, output = self.context.contract(self.entry).output
        if produced.concept is None or output is None:
            return
        if not satisfies(self.context.library, produced.concept, output):
            self._report_output(
                ErrorType.INADEQUATE_OUTPUT_CONCEPT,
                f"{what} produces '{produced.concept}', which is not a '{spec.ref}' as the output declares",
            )
        elif not multiplicity_fits(produced, spec):
            self._report_output(
                ErrorType.INADEQUATE_OUTPUT_MULTIPLICITY,
                f"{what} produces '{produced.describe()}', and the output declares '{spec.render()}'",
            )
        elif absence and produced.maybe_absent and spec.presence is not Presence.OPTIONAL:
            self._report_output(
                ErrorType.OPTIONAL_NOT_HANDLED,
                f"{what} may leave no result, so the output must be declared optional ('{spec.render()}?')",
            )

    def _report_output(self, error_type: ErrorType, why: str) -> None:
        self.context.report(self.entry, error_type, f"Pipe '{self.entry.code}': {why}.", "output")


def _never_absent(slot: Slot) -> Slot:
    """A list is never absent: a skipped producer leaves an empty one and a batch drops absent results
    (the reference's rule D4; `X[]?` does not exist, mthds.md §1.6)."""
    return replace(slot, maybe_absent=False)
