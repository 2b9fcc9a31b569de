"""Building libraries from bundle texts and running them in-process, for interpreter tests."""

from __future__ import annotations

from typing import Any

from shared.language.library import Library
from shared.language.model_deck import builtin_deck
from shared.language.report import BundleSource, ValidationReport
from shared.language.validator import validate_sources
from shared.runtime.call_site import RunOptions
from shared.runtime.dry_run_executor import DryRunExecutor
from shared.runtime.operator_call import OperatorExecutor
from shared.runtime.run_pipeline import RunOutcome, RunRequest, run_pipeline


def report_of(text: str, *, functions: frozenset[str] | None = None) -> ValidationReport:
    return validate_sources(
        [BundleSource(path="bundle.mthds", text=text)], builtin_deck(), functions=functions
    )


def library_of(text: str, *, functions: frozenset[str] | None = None) -> Library:
    """The library of a bundle that must validate (the issues are shown when it does not)."""
    report = report_of(text, functions=functions)
    assert report.is_valid, [issue.message for issue in report.issues]
    assert report.library is not None
    return report.library


async def run_text(
    text: str,
    pipe_ref: str,
    inputs: dict[str, Any] | None = None,
    *,
    dry_run: bool = False,
    executor: OperatorExecutor | None = None,
    **request: Any,
) -> RunOutcome:
    """Run `pipe_ref` of the bundle `text`; operators other than PipeCompose get dry-run mocks by default."""
    library = library_of(text)
    return await run_pipeline(
        library,
        RunRequest(pipe_ref, inputs, **request),
        executor or DryRunExecutor(library),
        RunOptions(dry_run=dry_run),
    )
