"""Stage 5 of validation, the dry-run sweep: every non-signature pipe runs end to end over mock inputs
with the dry-run executor (mthds.md §6). Pure.

Each failure becomes one `DryRunError` issue located at the innermost failing pipe; a failure reached
from several pipes (a sequence and the step that failed) is reported once, in declaration order.
"""

from __future__ import annotations

from shared.language.issues import Category, ErrorType, Issue
from shared.language.library import Library, PipeEntry
from shared.runtime.call_site import RunOptions
from shared.runtime.dry_run_executor import DryRunExecutor
from shared.runtime.interpreter import Interpreter
from shared.runtime.mock_inputs import MockInputs
from shared.runtime.run_failure import FailureCode, PipeRunError
from shared.runtime.stuff import Absence, Stuff, Value
from shared.runtime.working_memory import WorkingMemory


async def dry_run_issues(library: Library) -> list[Issue]:
    """One `DryRunError` issue per distinct failure, in the declaration order of the pipes."""
    mocks = MockInputs(library)
    executor = DryRunExecutor(library)
    issues: list[Issue] = []
    seen: set[tuple[str, str]] = set()
    for entry in library.pipes.values():
        if entry.is_signature:
            continue
        failure = await dry_run_failure(library, entry, mocks, executor)
        if failure is None:
            continue
        failing = _entry_named(library, failure.pipe, entry)
        key = (failing.ref, failure.code)
        if key not in seen:
            seen.add(key)
            issues.append(_issue(failing, failure))
    return issues


async def dry_run_failure(
    library: Library,
    entry: PipeEntry,
    mocks: MockInputs,
    executor: DryRunExecutor,
    given: WorkingMemory | None = None,
) -> PipeRunError | None:
    """The failure of one pipe's dry run, or None when it completes with an output of its declared shape.

    Inputs `given` (a caller's, already converted) are used as they are; mocks fill in the others.
    """
    seed = f"dry-run:{entry.ref}"
    interpreter = Interpreter(library, executor, RunOptions(dry_run=True, seed=seed))
    memory = mocks.memory_for(entry, seed, given)
    try:
        value = await interpreter.run(entry.ref, memory)
    except PipeRunError as failure:
        return failure
    return output_shape_fault(interpreter, entry, value)


def output_shape_fault(interpreter: Interpreter, entry: PipeEntry, value: Value) -> PipeRunError | None:
    """None when `value` has the pipe's declared concept and multiplicity (or is absent for `X?`)."""
    declared = interpreter.contracts.of(entry).output
    if isinstance(value, Absence):
        if declared.spec.is_optional:
            return None
        why = f"its output holds nothing ({value.reason}) but is declared '{declared.spec.render()}'"
        return PipeRunError(FailureCode.OPTIONAL_UNHANDLED, why, pipe=entry.code)
    if _fits(interpreter, value, declared.spec.is_list, declared.concept):
        return None
    given = f"{value.concept}{'[]' if value.is_list else ''}"
    why = f"it produced {given} where '{declared.spec.render()}' is declared"
    return PipeRunError(FailureCode.OUTPUT_INVALID, why, pipe=entry.code)


def _fits(interpreter: Interpreter, value: Stuff, is_list: bool, concept: str) -> bool:
    return value.is_list == is_list and interpreter.fits(value.concept, concept)


def _entry_named(library: Library, code: str | None, fallback: PipeEntry) -> PipeEntry:
    if code is None or code == fallback.code:
        return fallback
    same_domain = library.pipes.get(f"{fallback.domain}.{code}")
    if same_domain is not None:
        return same_domain
    return next((entry for entry in library.pipes.values() if entry.code == code), fallback)


def _issue(entry: PipeEntry, failure: PipeRunError) -> Issue:
    return Issue(
        category=Category.DRY_RUN,
        error_type=ErrorType.DRY_RUN_ERROR,
        code=failure.code,
        message=f"Dry run of pipe '{entry.code}' failed: {failure.message}",
        file=entry.file,
        pipe=entry.code,
        domain=entry.domain,
        field=f"pipe.{entry.code}",
        line=entry.line,
    )
