"""One pipeline run in-process: caller inputs → working memory → the walk → the reference's result shape.
Pure: the executor given decides what operators do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from shared.language.library import Library, PipeEntry
from shared.runtime.call_site import CallSite, PipeListener, RunOptions
from shared.runtime.caller_inputs import CallerInputs, InputCode, InputRefused
from shared.runtime.interpreter import Interpreter
from shared.runtime.operator_call import OperatorExecutor
from shared.runtime.stuff import Absence, Stuff, Value
from shared.runtime.stuff_codes import StuffCodes
from shared.runtime.working_memory import WorkingMemory


@dataclass(frozen=True, slots=True)
class RunRequest:
    """What a caller asks of one run (http-api.md §4.1, the fields the interpreter reads)."""

    pipe_ref: str
    inputs: Mapping[str, Any] | None = None
    output_name: str | None = None
    output_multiplicity: bool | int | str | None = None
    dynamic_output_concept_ref: str | None = None


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """A finished run: the pipe that ran, its whole memory, and the main value."""

    pipe_ref: str
    memory: WorkingMemory
    main: Value | None

    @property
    def main_stuff_name(self) -> str | None:
        return self.memory.main_name()

    def main_json(self) -> Any:
        """The main output as the reference CLI prints it: the content, or the absence record."""
        if isinstance(self.main, Stuff):
            return self.main.content
        if isinstance(self.main, Absence):
            return {"absent": True, **self.main.wire()}
        return None

    def pipe_output(self, pipeline_run_id: str) -> dict[str, Any]:
        """The `pipe_output` member of a run result (http-api.md §5)."""
        return {
            "pipeline_run_id": pipeline_run_id,
            "working_memory": self.memory.wire(),
            "working_memory_raw": None,
            "graph_spec": None,
            "graph_assembly_error": None,
            "pipe_io_artifacts": None,
            "pipe_io_artifacts_error": None,
            "tokens_usages": [],
            "usage_assembly_error": None,
        }


def call_site_for(request: RunRequest) -> CallSite:
    """The entry pipe's call site: `output_name` and the `output_multiplicity` override."""
    multiplicity = request.output_multiplicity
    if multiplicity is None or multiplicity is False or multiplicity == "single":
        return CallSite(request.output_name)
    if multiplicity is True or multiplicity == "variable":
        return CallSite(request.output_name, multiple_output=True)
    if isinstance(multiplicity, int) and multiplicity >= 1:
        return CallSite(request.output_name, nb_output=multiplicity if multiplicity > 1 else None)
    raise InputRefused(
        InputCode.REQUEST_INVALID,
        f"output_multiplicity {multiplicity!r} is not true, false, 'single', 'variable' or a count ≥ 2",
        {"field": "output_multiplicity"},
    )


def prepare_memory(library: Library, entry: PipeEntry, request: RunRequest, seed: str) -> WorkingMemory:
    """The entry pipe's inputs as a working memory; raises `InputRefused` (a 422 before any run)."""
    return CallerInputs(library, StuffCodes(f"{seed}:inputs")).memory_for(entry, request.inputs)


def dynamic_concept(library: Library, request: RunRequest) -> str | None:
    """The resolved `dynamic_output_concept_ref`; raises `InputRefused` when it names no single concept."""
    written = request.dynamic_output_concept_ref
    if written is None:
        return None
    matches = CallerInputs(library, StuffCodes("")).resolve_anywhere(written)
    if len(matches) != 1:
        raise InputRefused(
            InputCode.WRONG_CONCEPT,
            f"dynamic_output_concept_ref '{written}' names {'several concepts' if matches else 'no concept'}",
            {"field": "dynamic_output_concept_ref", "given": written, "matches": matches},
        )
    return matches[0]


async def run_pipeline(
    library: Library,
    request: RunRequest,
    executor: OperatorExecutor,
    options: RunOptions | None = None,
    listener: PipeListener | None = None,
) -> RunOutcome:
    """Run `request` over `library`; raises `InputRefused` (bad request) or `PipeRunError` (failed run)."""
    options = options or RunOptions()
    entry = library.pipes.get(request.pipe_ref)
    if entry is None or entry.is_signature:
        raise InputRefused(
            InputCode.PIPE_NOT_FOUND, f"no runnable pipe '{request.pipe_ref}'", {"pipe": request.pipe_ref}
        )
    site = call_site_for(request)
    memory = prepare_memory(library, entry, request, options.seed)
    concept = dynamic_concept(library, request)
    if concept is not None:
        options = replace(options, dynamic_output_concept=concept)
    interpreter = Interpreter(library, executor, options, listener)
    main = await interpreter.run(entry.ref, memory, site)
    return RunOutcome(entry.ref, memory, main)


def select_pipe(library: Library, default_pipe_ref: str | None, pipe_code: str | None) -> str:
    """The ref of the pipe a request names (bare code, `domain.code`, or none: the `main_pipe`).

    Raises `InputRefused` with `request.pipe_unspecified`, `request.pipe_not_found` (with suggestions)
    or `request.pipe_ambiguous` (a bare code declared in several domains).
    """
    if pipe_code is None:
        if default_pipe_ref is None:
            raise InputRefused(
                InputCode.PIPE_UNSPECIFIED, "no pipe_code was given and the method declares no main_pipe", {}
            )
        return default_pipe_ref
    runnable = {ref: entry for ref, entry in library.pipes.items() if not entry.is_signature}
    if "." in pipe_code:
        if pipe_code in runnable:
            return pipe_code
        matches: list[str] = []
    else:
        matches = sorted(ref for ref, entry in runnable.items() if entry.code == pipe_code)
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise InputRefused(
            InputCode.PIPE_AMBIGUOUS,
            f"pipe '{pipe_code}' is declared in several domains; name it 'domain.{pipe_code}'",
            {"pipe": pipe_code, "matches": matches},
        )
    bare = pipe_code.rpartition(".")[2]
    suggestions = sorted(
        entry.code for entry in runnable.values() if bare in entry.code or entry.code in bare
    )[:5]
    raise InputRefused(
        InputCode.PIPE_NOT_FOUND,
        f"the method has no pipe '{pipe_code}'",
        {"pipe": pipe_code, "suggestions": suggestions},
    )
