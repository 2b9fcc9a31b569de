"""The `/v1/validate` verdict built from a `ValidationReport` (http-api.md §8.1), without the validator."""

from __future__ import annotations

from api.verdict import INVALID_MESSAGE, VALID_MESSAGE, render_markdown, verdict_body
from shared.language.issues import Category, ErrorType, Issue
from shared.language.report import BundleSource, PipeStatus, ValidatedPipe, ValidationReport

SOURCES = [BundleSource(path="bundle.mthds", text='domain = "greetings"\n')]
SYNTAX = Issue(
    category=Category.SYNTAX,
    message="Expected ']'.",
    code="method.syntax",
    file="bundle.mthds",
    line=3,
    column=12,
)
UNRESOLVED = Issue(
    category=Category.BLUEPRINT,
    message="No concept 'Salutation'.",
    error_type=ErrorType.UNRESOLVED_CONCEPT,
    pipe="greet",
)
VALID = ValidationReport(
    validated_pipes=(ValidatedPipe(pipe_ref="greetings.greet", status=PipeStatus.SUCCESS),),
    bundle_blueprints=({"domain": "greetings", "main_pipe": "greet"},),
    pipe_io_contracts={"greetings.greet": {"inputs": {}, "output": {}}},
    default_pipe_ref="greetings.greet",
)


def test_valid_arm_has_every_member_and_null_for_empty_ones() -> None:
    body = verdict_body(VALID, SOURCES, render=(), views=())
    assert body == {
        "is_valid": True,
        "warnings": [],
        "bundle_blueprint": {"domain": "greetings", "main_pipe": "greet"},
        "pipe_io_contracts": {"greetings.greet": {"inputs": {}, "output": {}}},
        "graph_spec": None,
        "validated_pipes": [{"pipe_ref": "greetings.greet", "status": "SUCCESS"}],
        "pending_signatures": [],
        "is_runnable": True,
        "default_pipe_ref": "greetings.greet",
        "mthds_contents": ['domain = "greetings"\n'],
        "message": VALID_MESSAGE,
    }


def test_valid_arm_without_blueprint_keeps_a_map_of_contracts() -> None:
    body = verdict_body(ValidationReport(pending_signatures=("sig",)), SOURCES, render=(), views=())
    assert body["bundle_blueprint"] is None
    assert body["pipe_io_contracts"] == {}
    assert body["is_runnable"] is False


def test_invalid_arm_lists_every_issue_as_a_problem_item() -> None:
    report = ValidationReport(issues=(SYNTAX, UNRESOLVED))
    body = verdict_body(report, SOURCES, render=("markdown",), views=("input_form",))
    assert set(body) == {
        "is_valid",
        "errors",
        "warnings",
        "pending_signatures",
        "is_runnable",
        "message",
        "rendered_markdown",
    }
    assert body["is_valid"] is False
    assert body["is_runnable"] is False
    assert body["message"] == INVALID_MESSAGE
    assert body["errors"][0] == {
        "code": "method.syntax",
        "detail": "Expected ']'.",
        "location": {"file": "bundle.mthds", "line": 3, "column": 12},
    }
    assert body["errors"][1]["code"] == "method.concept_unresolved"


def test_views_add_null_members_to_the_valid_arm() -> None:
    body = verdict_body(VALID, SOURCES, render=("pdf",), views=("output_form", "graph"))
    assert body["output_form"] is None
    assert "input_form" not in body
    assert "rendered_markdown" not in body


def test_markdown_names_faults_with_their_place() -> None:
    text = render_markdown(ValidationReport(issues=(SYNTAX, UNRESOLVED), warnings=(SYNTAX,)))
    assert text.startswith("## Invalid\n")
    assert "- `method.syntax` (bundle.mthds:3:12): Expected ']'." in text
    assert "(pipe `greet`)" in text
    assert "Warnings:" in text
    valid = render_markdown(VALID)
    assert valid.startswith("## Valid\n")
    assert "`greetings.greet`: SUCCESS" in valid
