"""The four controllers at run time: sequence (with bindings and inline batches), parallel, condition,
batch (mthds.md §2.11 to §2.14, §4.2). Pure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.language.bindings import BindingPathFault, walk_binding
from shared.language.concept_spec import Multiplicity
from shared.language.library import PipeEntry
from shared.language.natives import NATIVE_DOMAIN
from shared.language.pipe_blueprints import (
    BindingStep,
    PipeBatch,
    PipeCondition,
    PipeParallel,
    PipeSequence,
    PipeStep,
)
from shared.language.slots import Slot
from shared.runtime.batch_call import BatchCall, BatchCancelled, BatchFailed
from shared.runtime.batch_failures import ItemFailure
from shared.runtime.binding_values import bind_content
from shared.runtime.call_site import CallSite, InvocationPath, snake_case
from shared.runtime.condition_render import render_condition
from shared.runtime.content_refs import is_pages_ref, is_stored, ref_count
from shared.runtime.content_values import ContentRefused
from shared.runtime.pipe_contracts import PipeContract
from shared.runtime.run_failure import FailureCode, PipeRunError
from shared.runtime.stuff import Absence, AbsenceKind, Stuff, Value
from shared.runtime.working_memory import WorkingMemory

if TYPE_CHECKING:
    from shared.runtime.interpreter import Interpreter

SPECIAL_FAIL = "fail"
SPECIAL_CONTINUE = "continue"


class ControllerRuns:
    """Controller semantics; every child runs through the interpreter's gate."""

    def __init__(self, interpreter: Interpreter) -> None:
        self.interpreter = interpreter

    async def sequence(
        self,
        entry: PipeEntry,
        blueprint: PipeSequence,
        memory: WorkingMemory,
        site: CallSite,
        path: InvocationPath,
    ) -> Value:
        value: Value | None = None
        for number, step in enumerate(blueprint.steps, start=1):
            if isinstance(step, BindingStep):
                label = f'binding step {{ from = "{step.from_}", result = "{step.result}" }}'
                value = await self.bind(entry, step.from_, memory, step.result, label)
                memory.put(step.result, value)
            elif step.batch_over is not None:
                value = await self._inline_batch(entry, step, memory, path.step(number))
                self.interpreter.put(memory, CallSite(step.result), value)
            else:
                callee = self.interpreter.callee(entry, step.pipe)
                step_site = CallSite(step.result, step.nb_output, step.multiple_output)
                value = await self.interpreter.run_pipe(callee, memory, step_site, path.step(number))
        if value is None:  # unreachable: a sequence has at least one step (validated)
            raise PipeRunError(FailureCode.RUNTIME_UNEXPECTED, f"sequence '{entry.code}' has no steps")
        if site.result is not None:
            memory.put(site.result, value)
        return value

    async def bind(
        self, entry: PipeEntry, path: str, memory: WorkingMemory, result: str, label: str
    ) -> Value:
        """A binding step's value: the path walked through the declared structures (§2.11 rule 4).

        Absence reasons use the reference's wording, since clients may show them; `label` names the step.
        """
        root, *segments = path.split(".")
        held = memory.lookup(root)
        if held is None:
            raise PipeRunError(
                FailureCode.BINDING_FAILED,
                f"the binding '{path}' starts at '{root}', which the working memory does not hold",
                params={"path": path},
            )
        if isinstance(held, Absence):
            # The binding is skipped; one that derives a list binds an empty one (`lifted_outputs.py`).
            item_concept = self.interpreter.lifts.binding_list(entry, root, segments)
            if item_concept is not None:
                return self.interpreter.lifts.empty_list(item_concept)
            return Absence(
                result, AbsenceKind.SKIPPED, f"skipped because input '{root}' is absent", None, held
            )
        if not segments:
            return held
        multiplicity = Multiplicity.VARIABLE if held.is_list else Multiplicity.SINGLE
        try:
            slot = walk_binding(self.interpreter.library, Slot(held.concept, multiplicity), segments)
        except BindingPathFault as fault:
            raise PipeRunError(FailureCode.BINDING_FAILED, str(fault), params={"path": path}) from fault
        if is_stored(held.content):
            # Only activities read stored contents: the operator activity walks it (and stores what it
            # reached when that is large too).
            bound = await self.interpreter.stored_reader().bind_stored(
                entry, held, root, segments, slot.concept, slot.is_list
            )
        else:
            bound = bind_content(held.content, held.is_list, root, segments, slot.concept, slot.is_list)
        if bound.empty is not None:
            why = f"the {label} of pipe '{entry.code}' bound nothing, because '{bound.empty}' holds nothing"
            return Absence(result, AbsenceKind.DECLARED_ABSENT, why)
        return self.interpreter.new_stuff(result, bound.concept, bound.content, is_list=bound.is_list)

    async def _inline_batch(
        self, entry: PipeEntry, step: PipeStep, memory: WorkingMemory, step_path: InvocationPath
    ) -> Value:
        """A step with `batch_over`: its items run at `<step path>/item_<n>`, reported under the sequence."""
        list_name = step.batch_over or ""
        if "." in list_name:
            bound_name = f"_bound_{list_name.replace('.', '_')}"
            bound = await self.bind(
                entry, list_name, memory, bound_name, f'dotted `batch_over = "{list_name}"`'
            )
            memory.put(bound_name, bound, main=False)
            list_name = bound_name
        callee = self.interpreter.callee(entry, step.pipe)
        contract = self.interpreter.contracts.of(callee)
        return await self._fan_out(
            entry,
            callee,
            memory,
            list_name,
            step.batch_as or "",
            contract.output.concept,
            step_path,
            written=step.batch_over,
        )

    async def batch(
        self,
        entry: PipeEntry,
        blueprint: PipeBatch,
        contract: PipeContract,
        inputs: dict[str, Stuff],
        memory: WorkingMemory,
        site: CallSite,
        path: InvocationPath,
    ) -> Value:
        del inputs  # the list is read by name below, so an absent one is reported as such
        callee = self.interpreter.callee(entry, blueprint.branch_pipe_code)
        value = await self._fan_out(
            entry,
            callee,
            memory,
            blueprint.input_list_name,
            blueprint.input_item_name,
            contract.output.concept,
            path,
        )
        self.interpreter.put(memory, site, value)
        return value

    async def _fan_out(
        self,
        entry: PipeEntry,
        callee: PipeEntry,
        memory: WorkingMemory,
        list_name: str,
        item_name: str,
        concept: str,
        path: InvocationPath,
        *,
        written: str | None = None,
    ) -> Value:
        """Run `callee` once per item of the list under `list_name` (at `path/item_<n>`); outputs in item
        order, absences dropped. `entry` is the batching pipe: the PipeBatch, or the sequence of a step;
        `written` is the list as the method names it, when it differs (a dotted `batch_over`).

        A failed item's failure names its 0-based index (`batch_failures.py`); it fails the batch, and
        the other items are cancelled, unless the run collects item failures: then the item is dropped
        from the output and recorded, and the batch goes on.

        With a batch runner (in a worker), a batch whose branch calls out, or whose list is long or
        stored, runs there instead (`batch_call.py`), with the same rules.
        """
        held = memory.lookup(list_name)
        if isinstance(held, Absence):
            # A list is never absent (`lifted_outputs.py`), and a batch compacts what its items leave
            # absent: a batch over an absent list is an empty list.
            return self.interpreter.lifts.empty_list(concept)
        if held is None or not held.is_list:
            what = "nothing" if held is None else f"a single {held.concept}"
            raise PipeRunError(
                FailureCode.BATCH_INPUT_NOT_LIST,
                f"pipe '{entry.code}' batches over '{written or list_name}', which holds {what}, not a list",
                pipe=entry.code,
                params={"input": written or list_name},
            )
        interpreter = self.interpreter
        stored = is_pages_ref(held.content)
        total = ref_count(held.content) if stored else len(held.items())
        interpreter.notify_batch(entry, path, total)
        runner = interpreter.options.batches
        if runner is not None and (
            stored or total > runner.inline_max_items or interpreter.costs.needs_activities(callee.ref)
        ):
            call = BatchCall(entry, callee, memory, list_name, held, total, item_name, concept, path)
            try:
                outcome = await runner.run_batch(call)
            except BatchFailed as failed:
                interpreter.notify_batch_counts(path, failed.done, failed.failed)
                raise failed.failure from failed.failure.__cause__
            except BatchCancelled as cancelled:
                interpreter.notify_batch_counts(path, cancelled.done, cancelled.failed)
                raise
            interpreter.notify_batch_counts(path, outcome.done, outcome.failed)
            return interpreter.new_stuff(list_name, outcome.concept, outcome.content, is_list=True)
        if stored:  # unreachable: only a worker stores lists, and a worker runs batches elsewhere
            raise PipeRunError(
                FailureCode.RUNTIME_UNEXPECTED,
                f"pipe '{entry.code}' batches over a stored list, which this run cannot read",
                pipe=entry.code,
            )
        results = await self.run_items(entry, callee, memory, held.concept, item_name, path, held.items())
        # Recorded once the batch ends, in item order, whatever order the items failed in.
        interpreter.failed_items.extend(result for result in results if isinstance(result, ItemFailure))
        outputs = [result for result in results if isinstance(result, Stuff)]
        item_concept = outputs[0].concept if outputs and concept == f"{NATIVE_DOMAIN}.Dynamic" else concept
        return interpreter.new_stuff(
            list_name, item_concept, {"items": [output.content for output in outputs]}, is_list=True
        )

    async def run_items(
        self,
        entry: PipeEntry,
        callee: PipeEntry,
        memory: WorkingMemory,
        item_concept: str,
        item_name: str,
        path: InvocationPath,
        items: list[Any],
        first_index: int = 0,
    ) -> list[Value | ItemFailure]:
        """Run `callee` once per item (the items of a batch from `first_index` on, each at
        `path/item_<index + 1>`), at most `concurrency` at once; results in item order.

        A failed item's failure names its 0-based index; it fails the whole call (the other items are
        cancelled) unless the run collects item failures: then the item's result is its `ItemFailure`.
        """
        interpreter = self.interpreter

        def job(index: int, item: Any) -> Any:
            async def run_item() -> Value | ItemFailure:
                child = memory.fork()
                child.store(item_name, interpreter.new_stuff(item_name, item_concept, item), main=False)
                item_path = path.item(index + 1)  # paths count items from 1 (http-api.md §9.5)
                try:
                    return await interpreter.run_pipe(callee, child, CallSite(), item_path)
                except PipeRunError as failure:
                    failure.at_item(entry.code, index, item_path.wire())
                    if not interpreter.collects(failure):
                        raise
                    return ItemFailure(entry.code, item_path.wire(), index, failure)

            return run_item

        jobs = (job(index, item) for index, item in enumerate(items, start=first_index))
        return await interpreter.gather_in_order(jobs, bounded=True)

    async def parallel(
        self,
        entry: PipeEntry,
        blueprint: PipeParallel,
        contract: PipeContract,
        memory: WorkingMemory,
        site: CallSite,
        path: InvocationPath,
    ) -> Value:
        interpreter = self.interpreter

        def job(number: int, step: PipeStep) -> Any:
            async def run_branch() -> Value:
                callee = interpreter.callee(entry, step.pipe)
                branch_site = CallSite(step.result, step.nb_output, step.multiple_output)
                return await interpreter.run_pipe(callee, memory.fork(), branch_site, path.branch(number))

            return run_branch

        results: list[Value] = await interpreter.gather_in_order(
            (job(number, step) for number, step in enumerate(blueprint.branches, start=1)), bounded=False
        )
        combined: dict[str, Any] = {}
        for step, value in zip(blueprint.branches, results, strict=True):
            name = step.result or (value.variable_name if isinstance(value, Absence) else value.name)
            if isinstance(value, Stuff):
                combined[name] = value.content
            if blueprint.add_each_output:
                memory.put(name, value, main=False)
        concept = contract.output.concept
        try:
            content = interpreter.validator.validate(concept, combined)
        except ContentRefused as refused:
            raise PipeRunError(
                FailureCode.OUTPUT_INVALID,
                f"PipeParallel '{entry.code}' cannot combine its branch results into '{concept}': {refused}",
                params={"fields": refused.fields},
            ) from refused
        stuff = interpreter.new_stuff(snake_case(concept.rpartition(".")[2]), concept, content)
        interpreter.put(memory, site, stuff)
        return stuff

    async def condition(
        self,
        entry: PipeEntry,
        blueprint: PipeCondition,
        inputs: dict[str, Stuff],
        memory: WorkingMemory,
        site: CallSite,
        path: InvocationPath,
    ) -> Value:
        interpreter = self.interpreter
        if any(is_stored(stuff.content) for stuff in inputs.values()):
            # An input lives in storage: an activity reads it back and renders the expression there.
            rendered = await interpreter.stored_reader().render_condition(entry, inputs)
        else:
            rendered = render_condition(blueprint, interpreter.views.variables(inputs.values()))
        if rendered in {"", "None"}:
            shown = "nothing" if rendered == "" else "None"
            raise PipeRunError(
                FailureCode.CONDITION_UNMATCHED,
                f"the expression of '{entry.code}' renders {shown}, so no outcome can be chosen",
            )
        chosen = blueprint.outcomes.get(rendered, blueprint.default_outcome)
        if blueprint.add_alias_from_expression_to is not None:
            memory.add_alias(rendered, blueprint.add_alias_from_expression_to)
        if interpreter.options.dry_run:
            return await self._dry_outcomes(entry, blueprint, memory, site, path)
        if chosen == SPECIAL_FAIL:
            raise PipeRunError(
                FailureCode.CONDITION_REFUSED,
                f"the expression of '{entry.code}' rendered '{rendered}', whose outcome is 'fail'",
                params={"outcome": rendered},
            )
        if chosen == SPECIAL_CONTINUE:
            absence = Absence(
                site.result or entry.code,
                AbsenceKind.DECLARED_ABSENT,
                f"'{entry.code}' chose 'continue'",
                entry.code,
            )
            interpreter.put(memory, site, absence)
            return absence
        callee = interpreter.callee(entry, chosen)
        return await interpreter.run_pipe(
            callee, memory, site, self._outcome_path(entry, blueprint, callee, path)
        )

    async def _dry_outcomes(
        self,
        entry: PipeEntry,
        blueprint: PipeCondition,
        memory: WorkingMemory,
        site: CallSite,
        path: InvocationPath,
    ) -> Value:
        """Dry mode exercises every outcome pipe (each on a copy, the default last); its value is the last one's."""
        targets = [target for target in blueprint.outcomes.values() if target != blueprint.default_outcome]
        targets.append(blueprint.default_outcome)
        pipes = [
            target for target in dict.fromkeys(targets) if target not in {SPECIAL_FAIL, SPECIAL_CONTINUE}
        ]
        value: Value = Absence(
            site.result or entry.code, AbsenceKind.DECLARED_ABSENT, f"'{entry.code}' ran no pipe", entry.code
        )
        for index, target in enumerate(pipes):
            is_last = index == len(pipes) - 1
            branch_memory = memory if is_last else memory.fork()
            callee = self.interpreter.callee(entry, target)
            outcome_path = self._outcome_path(entry, blueprint, callee, path)
            value = await self.interpreter.run_pipe(callee, branch_memory, site, outcome_path)
        if not pipes:
            self.interpreter.put(memory, site, value)
        return value

    def _outcome_path(
        self, entry: PipeEntry, blueprint: PipeCondition, callee: PipeEntry, path: InvocationPath
    ) -> InvocationPath:
        """Where a condition runs `callee`: under the first outcome key that runs that pipe (the reference
        names outcome groups so), hence one path per pipe in dry and live runs alike; under `default` when
        only the default outcome runs it.
        """
        library = self.interpreter.library
        for key, target in blueprint.outcomes.items():
            if target not in {SPECIAL_FAIL, SPECIAL_CONTINUE} and (
                library.resolve_pipe(target, entry.domain) == callee.ref
            ):
                return path.outcome(key)
        return path.outcome(None)
