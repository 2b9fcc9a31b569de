"""Property tests: valid bundles built from small generators run to completion (mthds.md §2, §4, §6).

Bundles come from `tests.helpers.bundle_strategies`: an entry PipeSequence over Text, structured and
Text[] inputs, with compose, construct, LLM, binding, batch, parallel and condition steps. Each one
must validate, then its dry run over generated caller inputs must end on the declared output shape,
deterministically; bundles without PipeLLM must also run for real. The last tests pin constructions
whose absences the validator's static analysis once missed (`test_absence_gaps.py` pins each verdict).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from shared.language.concept_compat import satisfies
from shared.language.library import Library
from shared.runtime.call_site import RunOptions
from shared.runtime.dry_run_executor import DryRunExecutor
from shared.runtime.operator_call import OperatorCall, OperatorExecutor, Produced
from shared.runtime.pipe_contracts import PipeContracts
from shared.runtime.run_failure import FailureCode, PipeRunError
from shared.runtime.run_pipeline import RunOutcome, RunRequest, run_pipeline
from shared.runtime.stuff import Absence, Stuff, Value
from tests.helpers.absence_probes import (
    BATCH_OVER_SKIPPED_LIST,
    BINDING_ACROSS_SKIPPED_LIST,
    CONDITION_OUTCOME_SKIPPED,
    parallel_then_read,
    probe_outcomes,
)
from tests.helpers.bundle_strategies import GeneratedBundle, bundles
from tests.helpers.methods import library_of, report_of

CONCEPT_REF = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\.[A-Z][A-Za-z0-9]*$")
EXAMPLES = settings(max_examples=60, deadline=None)
seeds = st.text(alphabet="abcdefghij0123456789:-", min_size=1, max_size=12)


class RefusingExecutor:
    """An executor for real runs of bundles without operators other than PipeCompose: never called."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def run_operator(self, call: OperatorCall) -> Produced:
        self.calls.append(call.pipe.ref)
        raise PipeRunError(FailureCode.RUNTIME_UNEXPECTED, f"no operator should run, got '{call.pipe.ref}'")


def validated(bundle: GeneratedBundle) -> Library:
    note(bundle.text)
    note(f"inputs: {bundle.inputs!r}")
    return library_of(bundle.text)


def run(
    library: Library,
    bundle: GeneratedBundle,
    *,
    dry_run: bool = True,
    seed: str = "methodflow",
    executor: OperatorExecutor | None = None,
) -> RunOutcome:
    request = RunRequest(bundle.entry_ref, bundle.inputs)
    options = RunOptions(dry_run=dry_run, seed=seed)
    return asyncio.run(run_pipeline(library, request, executor or DryRunExecutor(library), options))


def assert_declared_shape(library: Library, bundle: GeneratedBundle, main: Value | None) -> None:
    """The main value has the declared concept and multiplicity, or is absent for an `X?` output."""
    declared = PipeContracts(library).of(library.pipes[bundle.entry_ref]).output
    assert declared.concept == bundle.output_concept
    assert declared.spec.is_optional == bundle.output_optional
    if isinstance(main, Absence):
        assert bundle.output_optional, f"absent main value for a required output: {main}"
        return
    assert isinstance(main, Stuff)
    assert main.is_list == bundle.output_is_list
    assert satisfies(library, main.concept, bundle.output_concept), (main.concept, bundle.output_concept)


@EXAMPLES
@given(bundles())
def test_dry_runs_of_generated_bundles_end_on_the_declared_output(bundle: GeneratedBundle) -> None:
    library = validated(bundle)
    outcome = run(library, bundle)
    assert_declared_shape(library, bundle, outcome.main)


@EXAMPLES
@given(bundles(), seeds)
def test_dry_runs_are_deterministic_for_a_seed(bundle: GeneratedBundle, seed: str) -> None:
    library = validated(bundle)
    first = run(library, bundle, seed=seed)
    second = run(library, bundle, seed=seed)
    assert first.memory.wire() == second.memory.wire()


@EXAMPLES
@given(bundles(llm=False))
def test_bundles_of_compose_and_controllers_run_for_real(bundle: GeneratedBundle) -> None:
    library = validated(bundle)
    executor = RefusingExecutor()
    first = run(library, bundle, dry_run=False, executor=executor)
    second = run(library, bundle, dry_run=False, executor=executor)
    assert executor.calls == []
    assert_declared_shape(library, bundle, first.main)
    assert first.main_json() == second.main_json()
    assert first.memory.wire() == second.memory.wire()


@EXAMPLES
@given(bundles())
def test_every_stuff_has_a_short_code_and_a_qualified_concept(bundle: GeneratedBundle) -> None:
    library = validated(bundle)
    outcome = run(library, bundle)
    for name, stuff in outcome.memory.root.items():
        assert len(stuff.code) == 5, (name, stuff.code)
        assert CONCEPT_REF.fullmatch(stuff.concept), (name, stuff.concept)


@EXAMPLES
@given(bundles())
def test_a_required_output_the_validator_accepts_is_never_absent(bundle: GeneratedBundle) -> None:
    """Soundness of the static absence analysis (§4.4), over every construction (former gaps pinned below)."""
    if bundle.required_output_text is None:
        library = validated(bundle)
    else:
        report = report_of(bundle.required_output_text)
        if not report.is_valid or report.library is None:
            return  # the validator asks for the `?`: nothing to check
        note(bundle.required_output_text)
        library = report.library
    for dry_run in (True, False):
        outcome = run(library, bundle, dry_run=dry_run)
        assert isinstance(outcome.main, Stuff), outcome.main


# -- Former gaps, one small bundle each (`absence_probes`): the validator accepted it, yet a run where the
# -- optional field was absent left a required output absent, or failed. Now the validator refuses the
# -- bundle, or the run ends on the declared output (a list is never absent: a skip leaves it empty).


@pytest.mark.parametrize(
    ("text", "inputs"),
    [
        pytest.param(
            BATCH_OVER_SKIPPED_LIST,
            {"card": {}},
            id="inline-batch-over-a-skipped-list",
        ),
        pytest.param(
            BINDING_ACROSS_SKIPPED_LIST,
            {"card": {}},
            id="binding-across-a-skipped-list",
        ),
        pytest.param(
            parallel_then_read("Text"),
            {"card": {}},
            id="add-each-output-of-a-skipped-parallel",
        ),
        pytest.param(
            parallel_then_read("Text?"),
            {"card": {}},
            id="add-each-output-of-a-skipped-branch",
        ),
        pytest.param(
            CONDITION_OUTCOME_SKIPPED,
            {"card": {}, "mode": "loud"},
            id="condition-outcome-skipped",
        ),
    ],
)
def test_known_gaps_of_the_static_absence_analysis(text: str, inputs: dict[str, Any]) -> None:
    """Each bundle is refused by the validator, or a run whose caller leaves the optional `note` out
    (the dry-run sweep fills every optional field) ends on a value for the required output."""
    if not report_of(text).is_valid:
        return  # the validator now refuses the bundle: the gap is closed
    for outcome in probe_outcomes(text, inputs):
        assert isinstance(outcome.main, Stuff), outcome.main
