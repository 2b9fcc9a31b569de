"""`methodflow run --json` in this process: the same run as `methodflow run`, answered as one JSON
document on stdout (`{"state": "COMPLETED", "main_stuff": ...}`, or the failure's problem document
with exit 1); progress lines still go to stderr.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ulid import ULID

from shared.builder.draft_check import register_builder_functions
from shared.runtime.caller_inputs import InputRefused
from shared.runtime.function_registry import load_entry_points
from shared.runtime.run_failure import PipeRunError
from worker.cli_output import EXIT_FAILED, EXIT_OK, print_json
from worker.in_process import MethodInvalid, run_sources
from worker.run_command import ProgressLines

if TYPE_CHECKING:
    from shared.language.model_deck import ModelDeck
    from shared.language.report import BundleSource
    from shared.runtime.run_pipeline import RunOutcome, RunRequest
    from worker.settings import WorkerSettings


def run_as_json(
    sources: list[BundleSource],
    request: RunRequest,
    *,
    settings: WorkerSettings,
    deck: ModelDeck,
    dry_run: bool,
    storage: Path,
) -> int:
    """Run, print the one JSON document, return the exit code."""
    load_entry_points()
    register_builder_functions()  # the Pipe Builder's own method calls them
    try:
        outcome = asyncio.run(_run(sources, request, settings, deck, dry_run=dry_run, storage=storage))
    except MethodInvalid as invalid:
        errors = [issue.to_problem_item() for issue in invalid.report.issues]
        print_json(_problem("method.invalid", "The method does not validate", str(invalid), errors=errors))
        return EXIT_FAILED
    except InputRefused as refused:
        print_json(_problem(refused.code, "The request was refused", refused.message, params=refused.params))
        return EXIT_FAILED
    except PipeRunError as failure:
        print_json(_problem(failure.code, "The run failed", failure.message, pipe=failure.pipe))
        return EXIT_FAILED
    print_json({"state": "COMPLETED", "main_stuff": outcome.main_json()})
    return EXIT_OK


async def _run(
    sources: list[BundleSource],
    request: RunRequest,
    settings: WorkerSettings,
    deck: ModelDeck,
    *,
    dry_run: bool,
    storage: Path,
) -> RunOutcome:
    providers = None if dry_run else settings.provider_registry()
    try:
        return await run_sources(
            sources,
            request,
            dry_run=dry_run,
            storage_root=storage,
            listener=ProgressLines(),
            seed=str(ULID()),  # each run stores its documents under its own key
            deck=deck,
            providers=providers,
            input_files=settings.input_files,
        )
    finally:
        if providers is not None:
            await providers.aclose()


def _problem(code: str, title: str, detail: str, **members: Any) -> dict[str, Any]:
    document: dict[str, Any] = {"type": "about:blank", "title": title, "detail": detail, "code": code}
    document.update({name: value for name, value in members.items() if value})
    return document
