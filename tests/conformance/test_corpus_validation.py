"""Validation verdicts against the pipelex 0.92.2 corpus: verdict, first error type, problem code and pipe.

One aggregating test, so a fresh clone (no wheel yet at collection time) runs it too; every disagreeing
entry is listed in the run's summary.
"""

from __future__ import annotations

import pytest

from shared.language.issues import PROBLEM_CODE_OF, ErrorType, Issue
from shared.language.model_deck import ModelDeck, builtin_deck
from shared.language.report import ValidationReport
from shared.language.validator import validate_sources
from tests.conformance.corpus import CorpusEntry, Validity

pytestmark = pytest.mark.conformance

# Entries that must agree with the reference. Only ever rises.
FLOOR = 107
ENTRY_COUNT = 107

# The pipe the fault of each invalid entry lies in, read off the bundles ("Wrong on purpose" comments).
# None: the fault belongs to the bundle or a concept (main_pipe, concept declarations), so no pipe is checked.
EXPECTED_PIPE: dict[str, str | None] = {
    "invalid_batch_item_name_collision": "label_crates",
    "invalid_binding_path_unresolved_past_a_leaf": "acknowledge_invoice",
    "invalid_binding_path_unresolved_root_without_structure": "pass_on_note",
    "invalid_binding_path_unresolved_through_a_dict": "acknowledge_invoice",
    "invalid_binding_path_unresolved_unknown_field": "acknowledge_invoice",
    "invalid_binding_step_batch_fields": "acknowledge_invoice",
    "invalid_binding_step_dotted_batch_over_branch": "prepare_catalog",
    "invalid_binding_step_dotted_batch_over_malformed": "index_catalog",
    "invalid_binding_step_malformed_path": "acknowledge_invoice",
    "invalid_binding_step_parallel_branch": "acknowledge_invoice",
    "invalid_binding_step_pipe_and_from": "acknowledge_invoice",
    "invalid_binding_step_result_not_plain": "acknowledge_invoice",
    "invalid_binding_step_without_result": "acknowledge_invoice",
    "invalid_dry_run_residual": "route_parcel",
    "invalid_extraneous_input_variable": "write_delay_notice",
    "invalid_inadequate_output_concept": "paint_garden_sign",
    "invalid_inadequate_output_multiplicity": "write_menu_card",
    "invalid_inadequate_output_multiplicity_binding": "pick_page_view",
    "invalid_input_name_batch_item_name_not_plain": "tag_cheeses",
    "invalid_input_name_branch_batch_as_reserved": "write_daily_log",
    "invalid_input_name_branch_result_not_plain": "prepare_recipe",
    "invalid_input_name_lone_dotted": "describe_printed_page",
    "invalid_input_name_redundant_dotted": "describe_printed_page",
    "invalid_input_name_step_batch_as_dotted": "label_round",
    "invalid_input_name_step_result_not_plain": "announce_departures",
    "invalid_input_stuff_spec_mismatch": "set_out_opening_hours",
    # The sequence's wiring check names the sequence, not the step pipe that reads the value.
    "invalid_input_stuff_spec_mismatch_binding": "acknowledge_invoice",
    "invalid_input_stuff_spec_mismatch_dotted_batch_over": "label_invoice",
    "invalid_input_stuff_spec_mismatch_step_multiplicity": "size_up_applicant",
    "invalid_llm_output_cannot_be_image": "describe_parcel_label",
    "invalid_missing_input_variable": "write_berth_note",
    "invalid_missing_input_variable_binding_root": "acknowledge_invoice",
    "invalid_missing_pipe_type": "write_round_sheet",
    "invalid_native_concept_redeclaration": None,
    "invalid_optional_branch_required_field": "write_weather_report",
    "invalid_optional_input_unguarded": "write_loan_reminder",
    "invalid_optional_marker_invalid": "write_minutes",
    "invalid_optional_not_handled": "write_order_docket",
    "invalid_optional_not_handled_binding": "pass_on_note",
    "invalid_optional_output_required": "answer_booking",
    "invalid_pipe_code_syntax": None,
    "invalid_template_private_name": "summarize_intake",
    "invalid_unknown_model": "write_tide_note",
    "invalid_unknown_pipe_type": "write_catalog_line",
    # A pipe's output names the missing concept: the reference locates the pipe.
    "invalid_unresolved_concept": "count_orchard_crates",
    # A concept's `refines` names the missing concept: the reference locates the concept, no pipe.
    "invalid_unresolved_concept_owned": None,
    "invalid_unresolved_package_dependency": "allocate_berth",
    "invalid_unresolved_pipe_dependency": "write_sailing_notice",
}


def test_corpus_validation_agrees_with_reference(
    corpus_entries: list[CorpusEntry], conformance_summary: list[str]
) -> None:
    deck = builtin_deck()
    disagreements = [
        (entry.name, _expected(entry), got)
        for entry in corpus_entries
        if (got := disagreement(entry, validate_entry(entry, deck))) is not None
    ]
    agreeing = len(corpus_entries) - len(disagreements)
    conformance_summary.append(f"conformance (validation): {agreeing}/{len(corpus_entries)} entries agree")
    conformance_summary.extend(f"  {name}: expected {want}; got {got}" for name, want, got in disagreements)

    invalid_names = {entry.name for entry in corpus_entries if entry.manifest.validity is Validity.INVALID}
    assert len(corpus_entries) == ENTRY_COUNT
    assert invalid_names == set(EXPECTED_PIPE), "EXPECTED_PIPE must name every invalid entry, and only those"
    assert agreeing >= FLOOR, f"{agreeing} entries agree, below the floor of {FLOOR}"


def validate_entry(entry: CorpusEntry, deck: ModelDeck) -> ValidationReport | BaseException:
    try:
        return validate_sources(entry.bundles, deck)
    # The table must report every entry: a crash is recorded as that entry's disagreement, not raised.
    except Exception as exc:  # noqa: BLE001 - turned into a reported disagreement below
        return exc


def _expected(entry: CorpusEntry) -> str:
    manifest = entry.manifest
    if manifest.validity is Validity.VALID:
        return "valid"
    error = manifest.expected_error or ""
    code = "any code" if error == ErrorType.DRY_RUN_ERROR else PROBLEM_CODE_OF.get(ErrorType(error), "?")
    pipe = EXPECTED_PIPE.get(entry.name)
    return f"invalid, {error} ({code})" + (f" in pipe {pipe}" if pipe else "")


def disagreement(entry: CorpusEntry, outcome: ValidationReport | BaseException) -> str | None:
    """None when `outcome` agrees with the reference for `entry`, else what was got instead."""
    if isinstance(outcome, BaseException):
        return f"raised {type(outcome).__name__}: {outcome}"
    manifest = entry.manifest
    if not outcome.is_valid:
        first = outcome.issues[0]
        if manifest.validity is Validity.INVALID and _first_issue_agrees(entry, first):
            return None
        return f"invalid, {_describe(first)}"
    if manifest.validity is Validity.VALID:
        return None
    return "valid"


def _first_issue_agrees(entry: CorpusEntry, first: Issue) -> bool:
    expected_error = entry.manifest.expected_error
    if first.error_type is None or first.error_type != expected_error:
        return False
    if (
        first.error_type is not ErrorType.DRY_RUN_ERROR
        and first.problem_code != PROBLEM_CODE_OF[first.error_type]
    ):
        return False
    expected_pipe = EXPECTED_PIPE.get(entry.name)
    return expected_pipe is None or first.pipe == expected_pipe


def _describe(issue: Issue) -> str:
    where = f" in pipe {issue.pipe}" if issue.pipe else ""
    message = " ".join(issue.message.split())
    return f"{issue.error_type} ({issue.problem_code}){where}: {message[:160]}"
