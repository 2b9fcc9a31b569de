"""Bad input to runs: each ends in a typed error naming the input or the pipe, never a raw exception."""

from __future__ import annotations

from typing import Any

import pytest

from shared.runtime.caller_inputs import InputRefused
from shared.runtime.run_failure import PipeRunError
from tests.helpers.methods import report_of, run_text
from tests.unit.test_interpreter import CONDITION, GREETINGS

GUEST = {"name": "Ada", "nights": 2}


@pytest.mark.parametrize(
    ("inputs", "code", "input_name"),
    [
        ({}, "input.missing", "guest"),
        ({"guest": None}, "input.invalid", "guest"),
        ({"guest": {"name": "Ada"}}, "input.invalid", "guest"),
        ({"guest": {"name": "Ada", "nights": "many"}}, "input.invalid", "guest"),
        ({"guest": "Ada"}, "input.wrong_concept", "guest"),
        ({"guest": [GUEST, GUEST]}, "input.wrong_multiplicity", "guest"),
        ({"guest": {"concept": "Number", "content": {"number": 3}}}, "input.wrong_concept", "guest"),
        ({"guest": {"concept": "NoSuchConcept", "content": GUEST}}, "input.wrong_concept", "guest"),
        ({"guest": GUEST, "stranger": "x"}, "input.invalid", "stranger"),
        ({"guest": {**GUEST, "__class__": "os.system"}}, "pipelex.security.reserved_key", None),
    ],
)
async def test_bad_caller_inputs_are_refused_before_anything_runs(
    inputs: dict[str, Any], code: str, input_name: str | None
) -> None:
    with pytest.raises(InputRefused) as refused:
        await run_text(GREETINGS, "greetings.greet", inputs)
    assert refused.value.code == code
    if input_name is not None:
        assert refused.value.params["input"] == input_name
    if code == "input.wrong_concept":
        assert refused.value.params["expected"] == "greetings.Guest"


async def test_a_refusal_names_the_expected_and_given_concepts() -> None:
    with pytest.raises(InputRefused) as refused:
        await run_text(GREETINGS, "greetings.greet", {"guest": {"concept": "native.Text", "content": "Ada"}})
    assert "greetings.Guest" in refused.value.message
    assert "native.Text" in refused.value.message


@pytest.mark.parametrize("multiplicity", ["many", -1, 0])
async def test_a_bad_output_multiplicity_is_refused(multiplicity: Any) -> None:
    with pytest.raises(InputRefused) as refused:
        await run_text(GREETINGS, "greetings.greet", {"guest": GUEST}, output_multiplicity=multiplicity)
    assert refused.value.code == "request.invalid"


async def test_condition_with_a_fail_outcome_ends_typed_naming_the_pipe() -> None:
    with pytest.raises(PipeRunError) as failure:
        await run_text(CONDITION, "routing.route", {"size": "broken"})
    assert (failure.value.code, failure.value.pipe) == ("pipe.condition_refused", "route")


CONDITION_FAULTS = """
domain = "faults"
description = "Expressions that fail"

[pipe.empty]
type = "PipeCondition"
description = "Renders empty for an empty text"
inputs = { size = "Text" }
output = "Text"
expression = "size.text"
outcomes = { large = "echo" }
default_outcome = "echo"

[pipe.broken]
type = "PipeCondition"
description = "Fails to render"
inputs = { size = "Text" }
output = "Text"
expression = "size.text | int / 0"
outcomes = { large = "echo" }
default_outcome = "echo"

[pipe.echo]
type = "PipeCompose"
description = "Echo"
inputs = { size = "Text" }
output = "Text"
template = "$size"
"""


async def test_a_condition_rendering_nothing_or_failing_ends_typed() -> None:
    only_empty = (
        CONDITION_FAULTS.split("[pipe.broken]")[0] + "[pipe.echo]" + CONDITION_FAULTS.split("[pipe.echo]")[1]
    )
    with pytest.raises(PipeRunError) as unmatched:
        await run_text(only_empty, "faults.empty", {"size": ""})
    assert (unmatched.value.code, unmatched.value.pipe) == ("pipe.condition_unmatched", "empty")
    report = report_of(CONDITION_FAULTS)
    assert [(issue.pipe, issue.problem_code) for issue in report.issues] == [
        ("broken", "pipe.template_render_failed")
    ]


BATCH_OVER_ANYTHING = """
domain = "lists"
description = "A batch over a field the validator cannot type"
main_pipe = "label"

[pipe.label]
type = "PipeSequence"
description = "Labels each crate of a thing"
inputs = { thing = "Anything" }
output = "Text[]"
steps = [ { pipe = "label_one", batch_over = "thing.crates", batch_as = "crate", result = "labels" } ]

[pipe.label_one]
type = "PipeCompose"
description = "Label"
inputs = { crate = "Text" }
output = "Text"
template = "Crate $crate"
"""


async def test_a_batch_over_a_value_that_is_not_a_list_ends_typed() -> None:
    # The validator cannot type a field of Anything, so only the run can see the value is not a list.
    from shared.runtime.call_site import RunOptions
    from shared.runtime.dry_run_executor import DryRunExecutor
    from shared.runtime.run_pipeline import RunRequest, run_pipeline

    report = report_of(BATCH_OVER_ANYTHING)
    assert report.library is not None
    library = report.library
    with pytest.raises(PipeRunError) as failure:
        await run_pipeline(
            library,
            RunRequest("lists.label", {"thing": {"crates": "only one"}}),
            DryRunExecutor(library),
            RunOptions(),
        )
    assert (failure.value.code, failure.value.pipe) == ("pipe.batch_input_not_list", "label")


DEEP_NESTING = "\n".join(
    [
        'domain = "deep"',
        'description = "Sequences nested deeper than the limit"',
        *(
            f'[pipe.level_{level}]\ntype = "PipeSequence"\ndescription = "Level {level}"\n'
            f'inputs = {{ word = "Text" }}\noutput = "Text"\nsteps = [ {{ pipe = "level_{level + 1}" }} ]\n'
            for level in range(25)
        ),
        '[pipe.level_25]\ntype = "PipeCompose"\ndescription = "Bottom"\ninputs = { word = "Text" }\n'
        'output = "Text"\ntemplate = "$word"\n',
    ]
)


async def test_nesting_deeper_than_the_limit_ends_typed_naming_the_pipe() -> None:
    report = report_of(DEEP_NESTING)
    assert not report.is_valid  # the dry-run sweep meets the limit first
    assert {issue.problem_code for issue in report.issues} == {"pipe.stack_overflow"}
    assert report.issues[0].pipe == "level_21"


async def test_a_missing_field_fails_a_strict_document_template() -> None:
    text = """
domain = "docs"
description = "A document template reading a field that is not there"

[concept.Notice]
description = "A notice"

[concept.Notice.structure]
shop = { type = "text", description = "Shop", required = true }

[pipe.print]
type = "PipeDocGen"
description = "Prints"
inputs = { notice = "Notice" }
output = "Document"
format = "pdf"
template = "<p>{{ notice.opening_hours.weekdays }}</p>"
"""
    report = report_of(text)
    assert [(issue.pipe, issue.problem_code) for issue in report.issues] == [
        ("print", "pipe.template_render_failed")
    ]


async def test_a_construct_missing_a_required_field_ends_typed() -> None:
    text = """
domain = "dockets"
description = "A construct that cannot fill its output"

[concept.Parcel]
description = "A parcel"

[concept.Parcel.structure]
town = { type = "text", description = "Town" }

[concept.Docket]
description = "A docket"

[concept.Docket.structure]
town = { type = "text", description = "Town", required = true }

[pipe.write]
type = "PipeCompose"
description = "Writes"
inputs = { parcel = "Parcel" }
output = "Docket"

[pipe.write.construct]
town = { from = "parcel.town" }
"""
    with pytest.raises(PipeRunError) as failure:
        await run_text(text, "dockets.write", {"parcel": {}})
    assert (failure.value.code, failure.value.pipe) == ("pipe.output_invalid", "write")
    assert failure.value.params["fields"] == ["town"]
