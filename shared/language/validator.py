"""Entry point of validation: bundle texts in, a `ValidationReport` out, through the ordered stages. Pure.

Stages (mthds.md §5.1): 1 parse, 2 blueprint rules, 3 library assembly, 4 pipe checks and wiring,
5 dry-run sweep, 6 advisory lints (warnings, on a valid verdict only). As in the reference, the first
stage that finds faults gives the verdict, and every fault that stage found is reported together.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from shared.language.blueprint import BundleBlueprint
from shared.language.blueprint_checks import blueprint_issues
from shared.language.check_context import CheckContext
from shared.language.controller_checks import ControllerChecker
from shared.language.io_contracts import pipe_io_contracts
from shared.language.issues import ErrorType, Issue
from shared.language.library import Library, PipeEntry, assemble_library
from shared.language.model_deck import ModelDeck
from shared.language.operator_checks import check_operator
from shared.language.parser import parse_bundle
from shared.language.pipe_blueprints import PipeBatch, PipeCondition, PipeFunc, PipeParallel, PipeSequence
from shared.language.pipe_cycles import cycle_issues
from shared.language.report import BundleSource, PipeStatus, ValidatedPipe, ValidationReport
from shared.language.template_field_checks import template_field_warnings
from shared.runtime.dry_run_sweep import dry_run_issues
from shared.runtime.function_registry import DEFAULT_REGISTRY
from shared.runtime.loop_pool import SHARED_LOOPS

_CONTROLLERS = (PipeSequence, PipeParallel, PipeCondition, PipeBatch)
_T = TypeVar("_T")


def validate_sources(
    sources: Sequence[BundleSource],
    deck: ModelDeck,
    *,
    allow_signatures: bool = False,
    functions: Collection[str] | None = None,
    dry_run: bool = True,
) -> ValidationReport:
    """Validate `sources` together as one library; never raises on bad input.

    `allow_signatures` is accepted for the protocol; as in the reference's strict mode, pending
    signatures never invalidate a library, they only make it not runnable. `dry_run=False` stops
    after the static checks, as the reference's describing routes (`/v1/pipe-io`, `/v1/resolve`,
    `/v1/codegen`) do: what a method offers is known before any dry run.
    """
    del allow_signatures
    bundles: list[BundleBlueprint] = []
    lines: dict[tuple[str, str, str], int] = {}
    issues: list[Issue] = []
    for source in sources:
        outcome = parse_bundle(source)
        issues += outcome.issues
        if outcome.blueprint is not None:
            bundles.append(outcome.blueprint)
            lines.update({(source.path, kind, code): line for (kind, code), line in outcome.lines.items()})
    if issues:
        return ValidationReport(issues=tuple(issues))
    blueprints = tuple(bundle.wire_dump() for bundle in bundles)

    library = assemble_library(bundles, lines)
    issues = list(library.issues)
    for entry in library.pipes.values():
        issues += blueprint_issues(entry)
    if issues:
        return ValidationReport(issues=tuple(issues), bundle_blueprints=blueprints)

    context = CheckContext(library, deck)
    known_functions = DEFAULT_REGISTRY.names() if functions is None else frozenset(functions)
    for entry in library.pipes.values():
        _check_pipe(context, entry)
        _check_function(context, entry, known_functions)
    issues = context.issues + cycle_issues(library)
    if issues:
        return ValidationReport(issues=tuple(issues), bundle_blueprints=blueprints)

    issues = _run_to_end(dry_run_issues(library)) if dry_run else []
    pending = tuple(ref for ref, entry in library.pipes.items() if entry.is_signature)
    failed = {(issue.domain, issue.pipe) for issue in issues}
    return ValidationReport(
        issues=tuple(issues),
        # Stage 6, advisory lints: on a valid verdict only, never changing it.
        warnings=() if issues else tuple(template_field_warnings(context)),
        pending_signatures=pending,
        validated_pipes=tuple(_status(entry, failed) for entry in library.pipes.values()),
        bundle_blueprints=blueprints,
        pipe_io_contracts=pipe_io_contracts(context) if not issues else {},
        default_pipe_ref=_default_pipe_ref(bundles, library),
        library=library,
    )


class LibraryUnusable(ValueError):
    """The bundles do not even parse and assemble; only a method that validated should reach `load_library`."""


def load_library(sources: Sequence[BundleSource]) -> Library:
    """The library of bundles that already validated, without the checks (the workflow rebuilds it).

    Parsing and assembly only: the checks and the dry-run sweep ran when the API accepted the run,
    against the service's model deck, the one the workers resolve models in (`service_deck`).
    """
    bundles: list[BundleBlueprint] = []
    lines: dict[tuple[str, str, str], int] = {}
    for source in sources:
        outcome = parse_bundle(source)
        if outcome.issues or outcome.blueprint is None:
            msg = (
                f"bundle {source.path} does not parse: {outcome.issues[0].message if outcome.issues else ''}"
            )
            raise LibraryUnusable(msg)
        bundles.append(outcome.blueprint)
        lines.update({(source.path, kind, code): line for (kind, code), line in outcome.lines.items()})
    library = assemble_library(bundles, lines)
    if library.issues:
        msg = f"the bundles do not assemble: {library.issues[0].message}"
        raise LibraryUnusable(msg)
    return library


def _run_to_end(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run the dry-run sweep to completion from synchronous code, even under a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        # A pooled loop: building a fresh one per call (`asyncio.run`) cost more than the sweep itself.
        return SHARED_LOOPS.run(coroutine)
    # Called from inside an event loop (an async test, an async route): run the sweep on its own thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(SHARED_LOOPS.run, coroutine).result()


def _check_pipe(context: CheckContext, entry: PipeEntry) -> None:
    context.contract(entry)  # resolves the declared concepts, reporting those that resolve nowhere
    if entry.is_signature:
        return
    if isinstance(entry.blueprint, _CONTROLLERS):
        ControllerChecker(context, entry).check()
    else:
        check_operator(context, entry)


def _check_function(context: CheckContext, entry: PipeEntry, known: frozenset[str]) -> None:
    """A PipeFunc may only name a registered function: names are looked up, never imported (§2.10)."""
    blueprint = entry.blueprint
    if isinstance(blueprint, PipeFunc) and blueprint.function_name not in known:
        context.report(
            entry,
            ErrorType.PIPE_FUNC_FUNCTION_REFUSED,
            f"Pipe '{entry.code}' calls the function '{blueprint.function_name}', which is not registered "
            f"with this service (register it with @pipe_function or the 'methodflow.functions' entry points).",
            "function_name",
            params={"function": blueprint.function_name},
        )


def _status(entry: PipeEntry, failed: set[tuple[str | None, str | None]]) -> ValidatedPipe:
    if entry.is_signature:
        return ValidatedPipe(pipe_ref=entry.ref, status=PipeStatus.SKIPPED)
    status = PipeStatus.FAILURE if (entry.domain, entry.code) in failed else PipeStatus.SUCCESS
    return ValidatedPipe(pipe_ref=entry.ref, status=status)


def _default_pipe_ref(bundles: list[BundleBlueprint], library: Library) -> str | None:
    """The single `main_pipe` declared across the bundles (none or several: no default)."""
    mains = {f"{bundle.domain}.{bundle.main_pipe}" for bundle in bundles if bundle.main_pipe}
    if len(mains) != 1:
        return None
    (ref,) = mains
    return ref if ref in library.pipes else None
