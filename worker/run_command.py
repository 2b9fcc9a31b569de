"""`methodflow run`: run a bundle in this process and print its main output (progress on stderr).

Exit codes: 0 the run completed, 1 the method, request or run failed (a typed message says why),
2 a file could not be read (`cli_sources` reads the bundles and inputs). The model deck, provider keys
and input-file limits are the worker's settings (`WorkerSettings`), read from the same environment
variables.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

import typer
from ulid import ULID

from shared.builder.draft_check import register_builder_functions
from shared.language.library import PipeEntry
from shared.language.report import BundleSource
from shared.runtime.call_site import InvocationPath
from shared.runtime.caller_inputs import InputRefused
from shared.runtime.function_registry import load_entry_points
from shared.runtime.json_values import as_mapping
from shared.runtime.run_failure import PipeRunError
from shared.runtime.run_pipeline import RunOutcome, RunRequest
from shared.runtime.stuff import Stuff
from worker.in_process import MethodInvalid, run_sources

if TYPE_CHECKING:
    from shared.language.model_deck import ModelDeck
    from worker.settings import WorkerSettings

EXIT_FAILED: Final = 1


class ProgressLines:
    """One stderr line per pipe as it ends, indented by nesting depth, with its duration."""

    def __init__(self) -> None:
        self._started: dict[InvocationPath, float] = {}

    def pipe_started(self, entry: PipeEntry, path: InvocationPath) -> None:
        del entry
        self._started[path] = time.perf_counter()

    def pipe_finished(self, entry: PipeEntry, path: InvocationPath, outcome: str) -> None:
        began = self._started.pop(path, None)
        took = f" {1000 * (time.perf_counter() - began):.1f} ms" if began is not None else ""
        typer.echo(f"{'  ' * path.depth}{outcome:>7}  {entry.ref}{took}", err=True)

    def batch_started(self, entry: PipeEntry, path: InvocationPath, total: int) -> None:
        """No line: each item reports its own as it ends."""
        del entry, path, total

    def batch_counted(self, path: InvocationPath, done: int, failed: int) -> None:
        """Never called: in-process runs keep every batch in the walk."""
        del path, done, failed


@dataclass(frozen=True)
class LocalRun:
    """One run in this process, as `methodflow run` and its `--json` form both make it: the bundles, the
    request, the worker's settings and model deck, and where generated documents are stored."""

    sources: list[BundleSource]
    request: RunRequest
    settings: WorkerSettings
    deck: ModelDeck
    dry_run: bool
    storage: Path

    def outcome(self) -> RunOutcome:
        """Run it, progress lines on stderr. Raises `MethodInvalid`, `InputRefused` or `PipeRunError`:
        each command prints them its own way."""
        load_entry_points()
        register_builder_functions()  # the Pipe Builder's own method calls them
        return asyncio.run(self._run())

    async def _run(self) -> RunOutcome:
        """With the worker's providers (none for a dry run), closed when the run ends."""
        providers = None if self.dry_run else self.settings.provider_registry()
        try:
            return await run_sources(
                self.sources,
                self.request,
                dry_run=self.dry_run,
                storage_root=self.storage,
                listener=ProgressLines(),
                seed=str(ULID()),  # each run stores its documents under its own key
                deck=self.deck,
                providers=providers,
                input_files=self.settings.input_files,
            )
        finally:
            if providers is not None:
                await providers.aclose()


def execute(run: LocalRun, *, pretty: bool, memory: bool) -> int:
    """Run and print; returns the exit code."""
    try:
        outcome = run.outcome()
    except MethodInvalid as invalid:
        typer.echo(f"invalid method: {len(invalid.report.issues)} error(s)", err=True)
        for issue in invalid.report.issues:
            typer.echo(f"  {issue.problem_code}: {issue.message}", err=True)
        return EXIT_FAILED
    except InputRefused as refused:
        typer.echo(f"refused: {refused.code}: {refused.message}", err=True)
        return EXIT_FAILED
    except PipeRunError as failure:
        where = f" in pipe '{failure.pipe}'" if failure.pipe else ""
        typer.echo(f"run failed{where}: {failure.code}: {failure.message}", err=True)
        return EXIT_FAILED
    sys.stdout.write(render_outcome(outcome, pretty=pretty, memory=memory) + "\n")
    return 0


def render_outcome(outcome: RunOutcome, *, pretty: bool, memory: bool) -> str:
    if memory:
        return json.dumps(outcome.pipe_output("local-run"), indent=2, ensure_ascii=False)
    main = outcome.main
    if pretty and isinstance(main, Stuff) and not main.is_list:
        fields = as_mapping(main.content)
        if fields is not None and set(fields) == {"text"}:
            return str(fields["text"])
    return json.dumps(outcome.main_json(), indent=2 if pretty else None, ensure_ascii=False)
