"""Runs against the pipelex 0.92.2 corpus (mthds.md §7.4): dry entries dry-run, offline entries execute.

- `dry` and `inference` entries (valid): a dry run of the entry pipe, with `inputs.json` when present and
  mocks for the rest, completes with an output of the declared concept and multiplicity (or an absence for
  `X?`).
- `offline` entries: a real run with `inputs.json`, no model at all (PipeDocGen writes a real PDF), yields
  a main stuff of the declared concept whose content validates against the concept's schema.

One aggregating test prints `conformance: N/107`: an entry passes when its validation agrees with the
reference and, for the tiers above, its run passes too.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shared.language.library import Library
from shared.language.model_deck import builtin_deck
from shared.language.report import ValidationReport
from shared.runtime.call_site import RunOptions
from shared.runtime.caller_inputs import CallerInputs, InputRefused
from shared.runtime.content_values import ContentRefused, ContentValidator
from shared.runtime.dry_run_executor import DryRunExecutor
from shared.runtime.dry_run_sweep import dry_run_failure, output_shape_fault
from shared.runtime.interpreter import Interpreter
from shared.runtime.mock_inputs import MockInputs
from shared.runtime.run_failure import PipeRunError
from shared.runtime.run_pipeline import RunRequest
from shared.runtime.stuff import Stuff
from shared.runtime.stuff_codes import StuffCodes
from tests.conformance.corpus import CorpusEntry, Tier, Validity
from tests.conformance.test_corpus_validation import disagreement, validate_entry
from worker.in_process import MethodInvalid, run_sources

pytestmark = pytest.mark.conformance

# Entries passing validation and their tier's run. Only ever rises.
FLOOR = 107
DRY_TIERS = frozenset({Tier.DRY, Tier.INFERENCE})


async def test_corpus_runs_pass(
    corpus_entries: list[CorpusEntry], conformance_summary: list[str], tmp_path: Path
) -> None:
    deck = builtin_deck()
    failures: list[str] = []
    ran = dict.fromkeys(Tier, 0)
    passed = dict.fromkeys(Tier, 0)
    for entry in corpus_entries:
        report = validate_entry(entry, deck)
        problem = disagreement(entry, report)
        if (
            problem is None
            and isinstance(report, ValidationReport)
            and entry.manifest.validity is Validity.VALID
        ):
            tier = entry.manifest.tier
            if tier is Tier.OFFLINE:
                ran[tier] += 1
                problem = await _offline_problem(entry, tmp_path / entry.name)
            elif tier in DRY_TIERS:
                ran[tier] += 1
                problem = await _dry_problem(entry, report)
            if problem is None:
                passed[tier] += 1
        if problem is not None:
            failures.append(f"  {entry.name}: {problem}")
    passing = len(corpus_entries) - len(failures)
    per_tier = ", ".join(f"{tier.value} {passed[tier]}/{ran[tier]}" for tier in Tier if ran[tier])
    conformance_summary.append(
        f"conformance: {passing}/{len(corpus_entries)} entries pass (runs: {per_tier})"
    )
    conformance_summary.extend(failures)
    assert ran[Tier.OFFLINE] == 20
    assert ran[Tier.DRY] + ran[Tier.INFERENCE] == 38
    assert passing >= FLOOR, f"{passing} entries pass, below the floor of {FLOOR}:\n" + "\n".join(failures)


# Observed pipelex 0.92.2 behaviour worth pinning on offline entries (mthds.md §7.4).
OBSERVED: dict[str, Callable[[Any], bool]] = {
    # An integer given to a field typed `number` renders as 9.0.
    "feature_binding_step_order_lines": lambda main: "Amounts: 12.5 9.0" in main["text"],
    # A YesNo bound from a boolean drives `{% if fragile.yes_no %}`.
    "feature_binding_step_parcel_recipient": lambda main: main["handling"] == "Fragile, handle with care",
    # The evening note is absent, so the reminder is skipped and the sequence's `Text?` output is absent.
    "feature_binding_step_delivery_note": lambda main: (
        main.get("absent") is True and main["kind"] == "skipped"
    ),
}


async def _dry_problem(entry: CorpusEntry, report: ValidationReport) -> str | None:
    library = report.library
    if library is None or report.default_pipe_ref is None:
        return "validated without a library or main pipe"
    pipe = library.pipes[report.default_pipe_ref]
    given = None
    if entry.inputs is not None:
        try:
            given = CallerInputs(library, StuffCodes("conformance")).memory_for(pipe, entry.inputs)
        except InputRefused as refused:
            return f"inputs.json refused: {refused.code}: {refused.message}"
    failure = await dry_run_failure(library, pipe, MockInputs(library), DryRunExecutor(library), given)
    return None if failure is None else f"dry run failed in {failure.pipe}: {failure.code}: {failure.message}"


async def _offline_problem(entry: CorpusEntry, storage: Path) -> str | None:
    try:
        outcome = await run_sources(entry.bundles, RunRequest("", entry.inputs), storage_root=storage)
    except (MethodInvalid, InputRefused, PipeRunError) as exc:
        return f"run failed: {type(exc).__name__}: {exc}"
    library = _library_of(entry)
    interpreter = Interpreter(library, DryRunExecutor(library), RunOptions())
    if outcome.main is None:
        return "the run left no main stuff"
    fault = output_shape_fault(interpreter, library.pipes[outcome.pipe_ref], outcome.main)
    if fault is not None:
        return f"main output of the wrong shape: {fault.message}"
    observed = OBSERVED.get(entry.name)
    if observed is not None and not observed(outcome.main_json()):
        return f"main output differs from the reference's observed behaviour: {outcome.main_json()}"
    if isinstance(outcome.main, Stuff):
        return _content_problem(library, outcome.main)
    return None


def _content_problem(library: Library, main: Stuff) -> str | None:
    validator = ContentValidator(library)
    try:
        if main.is_list:
            validator.validate_list(main.concept, main.items())
        else:
            validator.validate(main.concept, main.content)
    except ContentRefused as refused:
        return f"main content does not validate: {refused}"
    return None


def _library_of(entry: CorpusEntry) -> Library:
    report = validate_entry(entry, builtin_deck())
    assert isinstance(report, ValidationReport)
    assert report.library is not None
    return report.library
