"""Running a method in this process, start to end: validate, select the pipe, convert inputs, walk.

Used by `methodflow run` and by tests; the Temporal workflow runs the same interpreter with activities.
The operator executor (and with it the provider SDKs and document libraries) is imported when a pipe
first needs an operator, so a run of pure pipes or a dry run starts quickly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.language.library import Library
from shared.language.model_deck import ModelDeck, builtin_deck
from shared.language.report import BundleSource, ValidationReport
from shared.language.validator import validate_sources
from shared.runtime.call_site import PipeListener, RunOptions
from shared.runtime.dry_run_executor import DryRunExecutor
from shared.runtime.function_registry import DEFAULT_REGISTRY, FunctionRegistry
from shared.runtime.mock_inputs import MockInputs
from shared.runtime.operator_call import OperatorCall, OperatorExecutor, Produced
from shared.runtime.pipe_contracts import PipeContracts
from shared.runtime.run_pipeline import RunOutcome, RunRequest, run_pipeline, select_pipe
from shared.runtime.stuff import Stuff
from shared.storage.blob_store import BlobStore, LocalBlobStore
from shared.storage.stored_inputs import store_data_urls

if TYPE_CHECKING:
    from worker.files.input_files import InputFiles
    from worker.operators.local import LocalOperatorExecutor
    from worker.providers.registry import ProviderRegistry


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
    deck: ModelDeck | None = None,
    providers: ProviderRegistry | None = None,
    input_files: Callable[[BlobStore], InputFiles] | None = None,
) -> RunOutcome:
    """Validate `sources` against `deck` (default: the built-in deck) and run `request` (its `pipe_ref`
    may be a bare code, or empty for `main_pipe`).

    Model-backed pipes call `providers` (without them they fail `model.unavailable`); `input_files`
    builds the reader of file inputs (default: the reader's own limits). A dry run mocks every input
    the request does not give, as the validation's dry-run sweep does.
    Raises `MethodInvalid`, `InputRefused` (request or inputs) or `PipeRunError` (the run failed).
    """
    model_deck = deck if deck is not None else builtin_deck()
    report = validate_sources(sources, model_deck, functions=functions.names())
    if not report.is_valid or report.library is None:
        raise MethodInvalid(report)
    library = report.library
    pipe_ref = select_pipe(library, report.default_pipe_ref, request.pipe_ref or None)
    store = LocalBlobStore(storage_root)
    executor: OperatorExecutor = (
        DryRunExecutor(library)
        if dry_run
        else _DeferredLocalExecutor(
            lambda: _local_executor(library, store, seed, functions, model_deck, providers, input_files)
        )
    )
    given = dict(request.inputs or {})
    if dry_run:
        given = with_mock_inputs(library, pipe_ref, given, seed)
    inputs = store_data_urls(given, store, key_prefix=seed)
    selected = replace(request, pipe_ref=pipe_ref, inputs=inputs)
    return await run_pipeline(library, selected, executor, RunOptions(dry_run=dry_run, seed=seed), listener)


def with_mock_inputs(library: Library, pipe_ref: str, given: Mapping[str, Any], seed: str) -> dict[str, Any]:
    """`given`, plus a mock for each input the pipe declares and `given` leaves out (mthds.md §6.1).

    Mocks are written as `{"concept", "content"}` inputs, so they are converted and checked like the
    caller's own. Inputs given as a whole working memory (`{"root": ...}`) are left as they are.
    """
    entry = library.pipes.get(pipe_ref)
    if entry is None:
        return dict(given)
    declared = PipeContracts(library).of(entry).inputs
    if "root" in given and "root" not in declared:
        return dict(given)
    missing = [name for name in declared if name not in given]
    mocks = MockInputs(library).memory_for(entry, f"{seed}:dry-run") if missing else None
    filled = dict(given)
    for name in missing:
        mock = mocks.lookup(name) if mocks is not None else None
        if isinstance(mock, Stuff):
            filled[name] = {
                "concept": mock.concept,
                "content": mock.items() if mock.is_list else mock.content,
            }
    return filled


class _DeferredLocalExecutor:
    """The local executor, built (and its operators imported) when a pipe first needs an operator."""

    def __init__(self, build: Callable[[], OperatorExecutor]) -> None:
        self._build = build
        self._executor: OperatorExecutor | None = None

    async def run_operator(self, call: OperatorCall) -> Produced:
        if self._executor is None:
            self._executor = self._build()
        return await self._executor.run_operator(call)


def _local_executor(
    library: Library,
    store: BlobStore,
    seed: str,
    functions: FunctionRegistry,
    deck: ModelDeck,
    providers: ProviderRegistry | None,
    input_files: Callable[[BlobStore], InputFiles] | None,
) -> LocalOperatorExecutor:
    from worker.operators.local import LocalOperatorExecutor  # deferred: see the module docstring

    return LocalOperatorExecutor(
        library,
        store,
        run_key=seed,
        functions=functions,
        deck=deck if providers is not None else None,
        providers=providers,
        files=input_files(store) if input_files is not None else None,
    )
