"""The verdict on each former gap of the static absence analysis (mthds.md §2.11 to §2.14, §4.4).

Each bundle reads an optional field `card.note` plainly somewhere, so a run whose caller leaves it out
skips a pipe. A list is never absent (a skip leaves it empty, as the reference's rule D4 has it, since
`X[]?` does not exist): the runs end on an empty list. A single value may be absent: the validator
refuses the bundle whose required output it could leave absent, and a run of the bundle declared `X?`
ends absent rather than failing.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.language.issues import ErrorType
from shared.runtime.run_pipeline import RunOutcome
from shared.runtime.stuff import Absence, AbsenceKind, Stuff
from tests.helpers.absence_probes import (
    BATCH_OVER_SKIPPED_LIST,
    BINDING_ACROSS_SKIPPED_LIST,
    CONDITION_OUTCOME_SKIPPED,
    IDEAS,
    QUOTE,
    parallel_then_read,
    probe,
)
from tests.helpers.absence_probes import probe_outcomes as outcomes
from tests.helpers.methods import report_of

NO_NOTE: dict[str, Any] = {"card": {}}
WITH_NOTE: dict[str, Any] = {"card": {"note": "hello"}}


def refusals(text: str) -> list[tuple[ErrorType | None, str, str | None, str | None, str]]:
    report = report_of(text)
    assert not report.is_valid
    return [
        (issue.error_type, issue.problem_code, issue.pipe, issue.field, issue.message)
        for issue in report.issues
    ]


def empty_text_list(outcome: RunOutcome) -> None:
    main = outcome.main
    assert isinstance(main, Stuff), main
    assert (main.concept, main.is_list, main.content) == ("native.Text", True, {"items": []})


# -- a batch over a list whose producer is skipped: the run handles it (an empty list) -----------------


def test_a_batch_over_a_skipped_list_ends_on_an_empty_list() -> None:
    assert report_of(BATCH_OVER_SKIPPED_LIST).issues == ()
    for outcome in outcomes(BATCH_OVER_SKIPPED_LIST, NO_NOTE):
        empty_text_list(outcome)
        ideas = outcome.memory.lookup("ideas")
        assert isinstance(ideas, Stuff)
        assert (ideas.is_list, ideas.content) == (True, {"items": []})
        assert "ideas" not in outcome.memory.absences


def test_a_batch_over_a_present_list_still_runs_each_item() -> None:
    for outcome in outcomes(BATCH_OVER_SKIPPED_LIST, WITH_NOTE):
        main = outcome.main
        assert isinstance(main, Stuff)
        assert main.is_list
        assert len(main.items()) >= 1


def test_a_pipe_batch_skipped_for_its_absent_list_input_ends_on_an_empty_list() -> None:
    text = probe(
        "Batches with a PipeBatch over a list whose producer may be skipped",
        "Text[]",
        ['{ pipe = "ideas", result = "ideas" }', '{ pipe = "each_idea", result = "out" }'],
        [
            IDEAS,
            """[pipe.each_idea]
type = "PipeBatch"
description = "Each idea"
inputs = { ideas = "Text[]" }
output = "Text[]"
branch_pipe_code = "one"
input_list_name = "ideas"
input_item_name = "idea"
""",
            """[pipe.one]
type = "PipeCompose"
description = "One idea"
inputs = { idea = "Text" }
output = "Text"
template = "- $idea"
""",
        ],
    )
    for outcome in outcomes(text, NO_NOTE):
        empty_text_list(outcome)


# -- a binding across a list whose producer is skipped: the run handles it (an empty list) -------------


def test_a_binding_across_a_skipped_list_ends_on_an_empty_list() -> None:
    assert report_of(BINDING_ACROSS_SKIPPED_LIST).issues == ()
    for outcome in outcomes(BINDING_ACROSS_SKIPPED_LIST, NO_NOTE):
        empty_text_list(outcome)
        assert "notes" not in outcome.memory.absences


def test_a_binding_to_a_list_from_an_absent_single_root_binds_an_empty_list() -> None:
    text = probe(
        "Binds a list field of a value whose producer may be skipped",
        "Text[]",
        ['{ pipe = "pack", result = "box" }', '{ from = "box.tags", result = "tags" }'],
        [
            """[pipe.pack]
type = "PipeLLM"
description = "Pack"
inputs = { note = "Text" }
output = "Box"
prompt = "Pack $note"
"""
        ],
        concepts="""
[concept.Box]
description = "A box"

[concept.Box.structure]
tags = { type = "list", item_type = "text", description = "Tags", required = true }
""",
    )
    assert report_of(text).issues == ()
    for outcome in outcomes(text, NO_NOTE):
        assert isinstance(outcome.memory.lookup("box"), Absence)
        empty_text_list(outcome)


# -- add_each_output of a parallel skipped at its gate: the validator refuses, the run records absences --

_REFUSED_LAST_STEP = (
    ErrorType.OPTIONAL_NOT_HANDLED,
    "method.optional_unhandled",
    "main",
    "pipe.main.output",
    "Pipe 'main': the last step may leave no result, so the output must be declared optional ('Text?').",
)


def test_add_each_output_of_a_parallel_that_may_be_skipped_is_refused() -> None:
    assert refusals(parallel_then_read("Text")) == [_REFUSED_LAST_STEP]


def test_a_skipped_parallel_records_each_branch_result_absent() -> None:
    """With the output declared `Text?`, the reader of a branch result is skipped; it never fails on a
    name that nothing holds (pipe.input_unresolved)."""
    text = parallel_then_read("Text").replace('output = "Text"\nsteps', 'output = "Text?"\nsteps')
    for outcome in outcomes(text, NO_NOTE):
        main = outcome.main
        assert isinstance(main, Absence), main
        assert (main.kind, main.producing_pipe) == (AbsenceKind.SKIPPED, "wrap")
        for name in ("quoted", "fixed", "pair"):
            absence = outcome.memory.absences[name]
            assert (absence.kind, absence.producing_pipe) == (AbsenceKind.SKIPPED, "both")
            assert absence.reason == "skipped because input 'note' is absent"


def test_a_skipped_parallel_leaves_a_list_branch_result_empty() -> None:
    text = probe(
        "Reads a list branch result of a parallel with add_each_output",
        "Text",
        ['{ pipe = "both", result = "pair" }', '{ pipe = "count", result = "out" }'],
        [
            """[pipe.both]
type = "PipeParallel"
description = "Both"
inputs = { note = "Text" }
output = "Composite"
add_each_output = true
branches = [
  { pipe = "quote", result = "quoted" },
  { pipe = "many", result = "words" },
]
""",
            QUOTE,
            """[pipe.many]
type = "PipeLLM"
description = "Many"
output = "Text[]"
prompt = "Some words"
""",
            """[pipe.count]
type = "PipeCompose"
description = "Count"
inputs = { words = "Text[]" }
output = "Text"
template = "{{ words | length }} words"
""",
        ],
    )
    assert report_of(text).issues == ()
    for outcome in outcomes(text, NO_NOTE):
        words = outcome.memory.lookup("words")
        assert isinstance(words, Stuff)
        assert (words.concept, words.is_list, words.content) == ("native.Text", True, {"items": []})
        assert isinstance(outcome.memory.lookup("quoted"), Absence)
        main = outcome.main
        assert isinstance(main, Stuff)
        assert main.content == {"text": "0 words"}


# -- add_each_output of a branch skipped inside the parallel: the validator refuses --------------------


def test_add_each_output_of_a_branch_that_may_be_skipped_is_refused() -> None:
    assert refusals(parallel_then_read("Text?")) == [_REFUSED_LAST_STEP]


def test_add_each_output_of_a_branch_that_absorbs_the_absence_is_accepted() -> None:
    """The branch reads the note `Text?` itself, so it always runs: its result is present."""
    text = parallel_then_read("Text?").replace(
        'inputs = { note = "Text" }\noutput = "Text"\ntemplate = "> $note"',
        'inputs = { note = "Text?" }\noutput = "Text"\ntemplate = "> {% if note %}{{ note }}{% endif %}"',
    )
    assert report_of(text).issues == ()
    for outcome in outcomes(text, NO_NOTE):
        assert isinstance(outcome.main, Stuff)


# -- a condition whose outcome pipe may be skipped: the validator refuses ------------------------------


def test_a_condition_whose_outcome_may_be_skipped_needs_an_optional_output() -> None:
    assert refusals(CONDITION_OUTCOME_SKIPPED) == [
        (
            ErrorType.OPTIONAL_NOT_HANDLED,
            "method.optional_unhandled",
            "route",
            "pipe.route.output",
            f"Pipe 'route': the outcome pipe '{target}' may leave no result, so the output must be "
            "declared optional ('Text?').",
        )
        for target in ("shout", "whisper")
    ]


@pytest.mark.parametrize("mode", ["loud", "soft"])
def test_a_condition_declared_optional_ends_absent_when_its_outcome_is_skipped(mode: str) -> None:
    text = CONDITION_OUTCOME_SKIPPED.replace(
        'output = "Text"\nexpression', 'output = "Text?"\nexpression'
    ).replace('output = "Text"\nsteps', 'output = "Text?"\nsteps')
    live = outcomes(text, {**NO_NOTE, "mode": mode})[1]
    main = live.main
    assert isinstance(main, Absence), main
    assert (main.kind, main.producing_pipe) == (AbsenceKind.SKIPPED, "shout" if mode == "loud" else "whisper")
