"""Running a method in this process, start to end: validate, select the pipe, convert inputs, walk.

Used by `methodflow run` and by tests; the Temporal workflow runs the same interpreter with activities.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from shared.language.model_deck import builtin_deck
from shared.language.report import BundleSource, ValidationReport
from shared.language.validator import validate_sources
from shared.runtime.call_site import PipeListener, RunOptions
from shared.runtime.dry_run_executor import DryRunExecutor
from shared.runtime.function_registry import DEFAULT_REGISTRY, FunctionRegistry
from shared.runtime.operator_call import OperatorExecutor
from shared.runtime.run_pipeline import RunOutcome, RunRequest, run_pipeline, select_pipe
from shared.storage.blob_store import LocalBlobStore
from shared.storage.stored_inputs import store_data_urls
from worker.operators.local import LocalOperatorExecutor


class MethodInvalid(Exception):
    """The method does not validate; `report` holds every issue."""

    def __init__(self, report: ValidationReport) -> None:
        super().__init__(f"the method does not validate ({len(report.issues)} issue(s))")
        self.report = report


async def run_sources(
    sources: Sequence[BundleSource],
    request: RunRequest,
    *,
    dry_run: bool = False,
    storage_root: Path,
    listener: PipeListener | None = None,
    functions: FunctionRegistry = DEFAULT_REGISTRY,
    seed: str = "local-run",
) -> RunOutcome:
    """Validate `sources` and run `request` (its `pipe_ref` may be a bare code, or empty for `main_pipe`).

    Raises `MethodInvalid`, `InputRefused` (request or inputs) or `PipeRunError` (the run failed).
    """
    report = validate_sources(sources, builtin_deck(), functions=functions.names())
    if not report.is_valid or report.library is None:
        raise MethodInvalid(report)
    library = report.library
    pipe_ref = select_pipe(library, report.default_pipe_ref, request.pipe_ref or None)
    store = LocalBlobStore(storage_root)
    executor: OperatorExecutor = (
        DryRunExecutor(library)
        if dry_run
        else LocalOperatorExecutor(library, store, run_key=seed, functions=functions)
    )
    inputs = store_data_urls(request.inputs or {}, store, key_prefix=seed)
    selected = replace(request, pipe_ref=pipe_ref, inputs=inputs)
    return await run_pipeline(library, selected, executor, RunOptions(dry_run=dry_run, seed=seed), listener)
