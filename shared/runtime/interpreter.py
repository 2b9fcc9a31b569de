"""The walk over a validated library: gates each pipe on its inputs, runs controllers, hands operators
to an executor (mthds.md §2.11 to §2.14, §4). Pure: no I/O, no clock, no randomness.

The same code runs in-process (CLI, `/v1/validate` dry runs, tests) and inside a Temporal workflow,
where the executor turns each operator call into an activity. Concurrency is plain asyncio (gather in
declaration / item order), which Temporal's deterministic event loop replays identically.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar, cast

from shared.language.concept_compat import satisfies
from shared.language.concept_spec import Presence
from shared.language.library import Library, PipeEntry
from shared.language.natives import NATIVE_DOMAIN
from shared.language.pipe_blueprints import (
    PipeBatch,
    PipeCompose,
    PipeCondition,
    PipeParallel,
    PipeSequence,
)
from shared.language.pipe_costs import PipeCosts
from shared.runtime.batch_failures import BatchFailureMode, ItemFailure, is_collectable
from shared.runtime.call_site import (
    CallSite,
    InvocationPath,
    PipeListener,
    ReuseListener,
    RunOptions,
    snake_case,
)
from shared.runtime.compose import run_compose
from shared.runtime.content_refs import is_stored
from shared.runtime.content_values import ContentRefused, ContentValidator
from shared.runtime.controllers import ControllerRuns
from shared.runtime.job_pool import run_bounded
from shared.runtime.lifted_outputs import LiftedOutputs
from shared.runtime.operator_call import (
    OperatorCall,
    OperatorExecutor,
    OutputTarget,
    Produced,
    StoredReader,
)
from shared.runtime.pipe_contracts import PipeContract, PipeContracts
from shared.runtime.run_failure import FailureCode, PipeRunError
from shared.runtime.stuff import Absence, AbsenceKind, Stuff, Value
from shared.runtime.stuff_codes import StuffCodes
from shared.runtime.template_views import TemplateViews
from shared.runtime.working_memory import MAIN_STUFF, WorkingMemory

DYNAMIC = f"{NATIVE_DOMAIN}.Dynamic"

_T = TypeVar("_T")


class Interpreter:
    """Runs pipes of one library over working memories; failures raise `PipeRunError` naming the pipe."""

    def __init__(
        self,
        library: Library,
        executor: OperatorExecutor,
        options: RunOptions | None = None,
        listener: PipeListener | None = None,
    ) -> None:
        self.library = library
        self.executor = executor
        self.options = options or RunOptions()
        self.listener = listener
        # Checked once: a runtime protocol check costs microseconds, and a resumed batch meets it per item.
        self._reuse_listener = listener if isinstance(listener, ReuseListener) else None
        self.codes = StuffCodes(self.options.seed)
        self.views = TemplateViews(library, strict_fields=not self.options.dry_run)
        self.validator = ContentValidator(library)
        self.contracts = PipeContracts(library)
        self.costs = PipeCosts(library)
        self._fits: dict[tuple[str, str], bool] = {}
        # Public: a chunk workflow runs a slice of a batch's items through them (`run_items`).
        self.controllers = ControllerRuns(self)
        self.lifts = LiftedOutputs(self)
        given = self.options.failed_items
        # The batch items failed and collected so far (`batch_failures: "collect"`), batch by batch.
        self.failed_items: list[ItemFailure] = given if given is not None else []

    async def run(self, pipe_ref: str, memory: WorkingMemory, site: CallSite | None = None) -> Value:
        """Run the pipe `pipe_ref` over `memory`; its output lands in `memory` and is returned."""
        entry = self.library.pipes.get(pipe_ref)
        if entry is None or entry.is_signature:
            raise PipeRunError(FailureCode.PIPE_UNRESOLVED, f"no runnable pipe '{pipe_ref}' in the library")
        return await self.run_pipe(entry, memory, site or CallSite(), InvocationPath.root(entry.ref))

    async def run_pipe(
        self, entry: PipeEntry, memory: WorkingMemory, site: CallSite, path: InvocationPath
    ) -> Value:
        if path.depth > self.options.max_depth:
            raise PipeRunError(
                FailureCode.STACK_OVERFLOW,
                f"pipes nest deeper than {self.options.max_depth} levels at '{entry.code}'",
                pipe=entry.code,
            )
        if self.options.pace is not None:
            await self.options.pace()
        contract = self.contracts.of(entry)
        gated = self._gate(entry, contract, memory, site)
        if isinstance(gated, Absence):
            lifted = self.lifts.lift(entry, self.output_target(contract, site), memory, gated)
            self.put(memory, site, lifted)
            self._notify_finished(entry, path, "skipped")
            return lifted
        if self.listener is not None:
            self.listener.pipe_started(entry, path)
        try:
            value = await self._dispatch(entry, contract, gated, memory, site, path)
        except PipeRunError as failure:
            self._notify_finished(entry, path, "failed")
            failure.located(entry.code)
            raise  # keeps the original cause (a user function's exception) on the failure
        self._notify_finished(entry, path, "done" if isinstance(value, Stuff) else "absent")
        return value

    async def _dispatch(
        self,
        entry: PipeEntry,
        contract: PipeContract,
        inputs: dict[str, Stuff],
        memory: WorkingMemory,
        site: CallSite,
        path: InvocationPath,
    ) -> Value:
        blueprint = entry.blueprint
        runs = self.controllers
        if isinstance(blueprint, PipeSequence):
            return await runs.sequence(entry, blueprint, memory, site, path)
        if isinstance(blueprint, PipeParallel):
            return await runs.parallel(entry, blueprint, contract, memory, site, path)
        if isinstance(blueprint, PipeCondition):
            return await runs.condition(entry, blueprint, inputs, memory, site, path)
        if isinstance(blueprint, PipeBatch):
            return await runs.batch(entry, blueprint, contract, inputs, memory, site, path)
        return await self._operator(entry, contract, inputs, memory, site, path)

    async def _operator(
        self,
        entry: PipeEntry,
        contract: PipeContract,
        inputs: dict[str, Stuff],
        memory: WorkingMemory,
        site: CallSite,
        path: InvocationPath,
    ) -> Stuff:
        target = self.output_target(contract, site)
        call = OperatorCall(entry, inputs, target, f"{self.options.seed}:{entry.ref}", site.nb_output)
        if isinstance(entry.blueprint, PipeCompose) and not any(
            is_stored(s.content) for s in inputs.values()
        ):
            produced, checked = run_compose(call, self.views, self.validator), True
        else:
            produced, checked = await self._executed(call), False
            if produced.reused_from is not None and self._reuse_listener is not None:
                self._reuse_listener.pipe_reused(path, produced.reused_from)
        stuff = self._stuff_of(entry, target, produced, checked=checked)
        self.put(memory, site, stuff)
        return stuff

    async def _executed(self, call: OperatorCall) -> Produced:
        try:
            return await self.executor.run_operator(call)
        except PipeRunError:
            raise
        except Exception as exc:
            # The executor's contract is PipeRunError; anything else is a defect, reported typed, never raw.
            raise PipeRunError(
                FailureCode.RUNTIME_UNEXPECTED,
                f"the operator failed unexpectedly: {type(exc).__name__}: {exc}",
            ) from exc

    def output_target(self, contract: PipeContract, site: CallSite) -> OutputTarget:
        """What a call of the pipe at `site` produces: its declared output, or the multiplicity the caller forces."""
        spec, concept = contract.output.spec, contract.output.concept
        if concept == DYNAMIC:
            concept = self.options.dynamic_output_concept
        if site.nb_output is not None:
            return OutputTarget(concept, site.nb_output > 1, site.nb_output if site.nb_output > 1 else None)
        if site.multiple_output:
            return OutputTarget(concept, True, None)
        return OutputTarget(concept, spec.is_list, spec.count)

    def _stuff_of(
        self, entry: PipeEntry, target: OutputTarget, produced: Produced, *, checked: bool
    ) -> Stuff:
        concept = produced.concept or target.concept
        try:
            content = self._checked_content(concept, target, produced.content, checked=checked)
        except ContentRefused as refused:
            raise PipeRunError(
                FailureCode.OUTPUT_INVALID,
                f"pipe '{entry.code}' produced a content that does not fit '{target.describe()}': {refused}",
                params={"fields": refused.fields},
            ) from refused
        name = snake_case(concept.rpartition(".")[2])
        return Stuff(name, self.codes.next_code(), concept, content, target.is_list)

    def _checked_content(self, concept: str, target: OutputTarget, content: Any, *, checked: bool) -> Any:
        if is_stored(content):
            return content  # the activity that stored it checked it (worker/activities/operators.py)
        if not target.is_list:
            return content if checked else self.validator.validate(concept, content)
        raw: Any = cast("dict[str, Any]", content).get("items") if isinstance(content, dict) else None
        if not isinstance(raw, list):
            raise ContentRefused(concept, ["expected a list of items"], [])
        items = cast("list[Any]", raw)
        if target.count is not None and len(items) != target.count:
            raise ContentRefused(concept, [f"expected {target.count} items, got {len(items)}"], [])
        return cast("Any", content) if checked else self.validator.validate_list(concept, items)

    def _gate(
        self, entry: PipeEntry, contract: PipeContract, memory: WorkingMemory, site: CallSite
    ) -> dict[str, Stuff] | Absence:
        """The skip/run/fail table of mthds.md §4.4, applied before any pipe runs."""
        present: dict[str, Stuff] = {}
        for name, declared in contract.inputs.items():
            value = memory.lookup(name)
            presence = declared.spec.presence
            if isinstance(value, Stuff):
                self._check_input(entry, name, declared.spec.is_list, declared.concept, value)
                present[name] = value if value.name == name else value.renamed(name)
            elif presence is Presence.FORCE:
                raise PipeRunError(
                    FailureCode.FORCED_INPUT_ABSENT,
                    f"pipe '{entry.code}' requires its input '{name}', which holds nothing",
                    pipe=entry.code,
                    params={"input": name},
                )
            elif presence is Presence.OPTIONAL:
                continue
            elif isinstance(value, Absence):
                return Absence(
                    site.result or MAIN_STUFF,
                    AbsenceKind.SKIPPED,
                    f"skipped because input '{name}' is absent",  # the reference's wording
                    entry.code,
                    value,
                )
            else:
                raise PipeRunError(
                    FailureCode.INPUT_UNRESOLVED,
                    f"pipe '{entry.code}' needs the input '{name}' ({declared.spec.render()}), "
                    f"which the working memory does not hold",
                    pipe=entry.code,
                    params={"input": name},
                )
        return present

    def _check_input(self, entry: PipeEntry, name: str, wants_list: bool, wanted: str, stuff: Stuff) -> None:
        fits = stuff.is_list == wants_list and self.fits(stuff.concept, wanted)
        if not fits:
            given = f"{stuff.concept}{'[]' if stuff.is_list else ''}"
            raise PipeRunError(
                FailureCode.INPUT_MISMATCH,
                f"pipe '{entry.code}' expects its input '{name}' as {wanted}{'[]' if wants_list else ''}, "
                f"but memory holds {given}",
                pipe=entry.code,
                params={"input": name, "expected": wanted, "given": given},
            )

    def fits(self, produced: str, wanted: str) -> bool:
        key = (produced, wanted)
        cached = self._fits.get(key)
        if cached is None:
            cached = self._fits[key] = satisfies(self.library, produced, wanted)
        return cached

    def callee(self, entry: PipeEntry, reference: str) -> PipeEntry:
        ref = self.library.resolve_pipe(reference, entry.domain)
        callee = self.library.pipes.get(ref) if ref is not None else None
        if callee is None or callee.is_signature:
            raise PipeRunError(
                FailureCode.PIPE_UNRESOLVED,
                f"pipe '{entry.code}' calls '{reference}', which is not a runnable pipe of the library",
                pipe=entry.code,
            )
        return callee

    def put(self, memory: WorkingMemory, site: CallSite, value: Value) -> None:
        memory.put(site.result or MAIN_STUFF, value)

    def new_stuff(self, name: str, concept: str, content: Any, *, is_list: bool = False) -> Stuff:
        return Stuff(name, self.codes.next_code(), concept, content, is_list)

    async def gather_in_order(
        self, jobs: Iterable[Callable[[], Awaitable[_T]]], *, bounded: bool
    ) -> list[_T]:
        """Run `jobs` concurrently (at most `concurrency` at once when `bounded`); results in job order.

        On the first failure the other jobs are cancelled, so a failed run leaves nothing running.
        """
        if bounded:
            # A task per running job only: a batch of thousands never creates thousands at once.
            return await run_bounded(jobs, self.options.concurrency)

        tasks = [asyncio.ensure_future(job()) for job in jobs]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            raise

    def collects(self, failure: PipeRunError) -> bool:
        """Whether a batch item's `failure` is recorded (and the item dropped) rather than failing the run."""
        return self.options.batch_failures is BatchFailureMode.COLLECT and is_collectable(failure)

    def notify_batch(self, entry: PipeEntry, path: InvocationPath, total: int) -> None:
        """Tell the listener that the batch at `path` fans out over `total` items (before any runs)."""
        if self.listener is not None:
            self.listener.batch_started(entry, path, total)

    def stored_reader(self) -> StoredReader:
        """The executor, as the reader of stored contents that pure steps meet (a condition over a
        stored text); only a worker's executor stores contents, so only it is ever asked."""
        if not isinstance(self.executor, StoredReader):
            raise PipeRunError(
                FailureCode.RUNTIME_UNEXPECTED, "a stored content reached a run that cannot read it"
            )
        return self.executor

    def notify_batch_counts(self, path: InvocationPath, done: int, failed: int) -> None:
        """Tell the listener the final item counts of a batch that ran outside the walk."""
        if self.listener is not None:
            self.listener.batch_counted(path, done, failed)

    def _notify_finished(self, entry: PipeEntry, path: InvocationPath, outcome: str) -> None:
        if self.listener is not None:
            self.listener.pipe_finished(entry, path, outcome)
