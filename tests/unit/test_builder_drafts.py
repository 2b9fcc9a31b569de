"""The Pipe Builder's pure parts: its method validates, a bundle is read out of a model's answer, and
a draft's faults are listed for the repair prompt."""

from __future__ import annotations

from shared.builder.builder_method import BUILDER_PIPE, brief_inputs, builder_bundle
from shared.builder.draft_check import (
    bundle_of_answer,
    draft_faults,
    faults_report,
    register_builder_functions,
)
from tests.helpers.methods import report_of

BUNDLE = 'domain = "x"\nmain_pipe = "p"\n'


def test_the_builder_method_validates_with_any_model_reference() -> None:
    register_builder_functions()
    for model in ("@default-premium", "gpt-4o-mini", '$we"ird\\'):
        report = report_of(builder_bundle(model))
        if model.startswith("$"):
            assert not report.is_valid  # an unknown preset: refused by the validator, not by TOML
            assert all(issue.to_problem_item()["code"] != "method.syntax" for issue in report.issues)
            continue
        assert report.is_valid, [issue.message for issue in report.issues]
        assert report.default_pipe_ref == BUILDER_PIPE


def test_registering_the_builder_functions_twice_is_harmless() -> None:
    register_builder_functions()
    register_builder_functions()


def test_a_fenced_toml_block_is_the_bundle() -> None:
    assert bundle_of_answer(f"Here:\n```toml\n{BUNDLE}```\nDone.") == BUNDLE
    assert bundle_of_answer(f"```mthds\n{BUNDLE}```") == BUNDLE
    # A marked block wins over an unmarked one; the first marked block is taken.
    answer = f'```\nnot = "it"\n```\n```toml\n{BUNDLE}```\n```toml\nsecond = 1\n```'
    assert bundle_of_answer(answer) == BUNDLE


def test_an_unfenced_answer_is_the_bundle_when_it_looks_like_toml() -> None:
    assert bundle_of_answer(f"\n\n{BUNDLE}\n") == BUNDLE
    assert bundle_of_answer("[pipe.a]\ntype = 1") == "[pipe.a]\ntype = 1\n"


def test_prose_holds_no_bundle() -> None:
    assert bundle_of_answer("I would rather not.") is None
    assert bundle_of_answer("") is None
    assert bundle_of_answer("```python\nprint('hello')\n```") is None


def test_a_valid_bundle_without_main_pipe_is_a_fault_for_the_builder() -> None:
    text = (
        'domain = "x"\n[pipe.a]\ntype = "PipeCompose"\ndescription = "a"\noutput = "Text"\ntemplate = "hi"\n'
    )
    report = report_of(text)
    assert report.is_valid
    assert [fault["code"] for fault in draft_faults(report)] == ["method.main_pipe_missing"]


def test_the_faults_report_names_where_and_is_bounded() -> None:
    fault = {"code": "method.concept_unresolved", "detail": "No 'X'.", "location": {"pipe": "a", "line": 3}}
    assert faults_report([fault]) == "- method.concept_unresolved (pipe a, line 3): No 'X'."
    lines = faults_report([fault] * 45).splitlines()
    assert len(lines) == 31
    assert lines[-1] == "- ... and 15 more faults of the same kinds."


def test_the_brief_becomes_the_builders_input() -> None:
    inputs = brief_inputs(
        brief="b", domain=None, output_description=None, example_inputs={"a": 1}, max_repairs=2
    )
    assert inputs["request"]["concept"] == "methodflow_builder.BuildBrief"
    assert inputs["request"]["content"] == {
        "brief": "b",
        "domain": "",
        "output_description": "",
        "example_inputs": '{"a": 1}',
        "max_repairs": 2,
    }
