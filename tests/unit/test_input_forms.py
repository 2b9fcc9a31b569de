"""`input_form` / `output_form` (shared/tooling/input_forms.py) over a method built to reach every kind.

Each descriptor is parsed by the standard's own closed models (`mthds.protocol.input_form`, the
`mthds` package) and must dump back to the same bytes; the expected nodes below were checked against
pipelex-api 0.92.2's `/v1/pipe-io` answer for this bundle (byte-identical, member order included).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from mthds.protocol.input_form import PipeInputFormDescriptor
from mthds.protocol.output_form import PipeOutputFormDescriptor

from shared.language.model_deck import builtin_deck
from shared.language.report import BundleSource, ValidationReport
from shared.language.validator import validate_sources
from shared.tooling.input_forms import input_form, output_form

# Every pipe is a signature: the contracts are all the forms need, and no model is involved.
FORMS_BUNDLE = """domain = "rich"
main_pipe = "combine"

[concept]
Note = "A short note"
Label = { description = "A label", refines = "Text", hints = { intent = "label" } }
SubNote = { description = "A refined note", refines = "Note" }
Photo = { description = "A photo of the thing", refines = "Image" }
Verdict = { description = "A verdict", refines = "YesNo" }

[concept.Address]
description = "A postal address"

[concept.Address.structure]
street = "The street"
city = { type = "text", description = "The city", required = true, hints = { intent = "label" } }
zip = { type = "integer", description = "Zip code", hints = { intent = "quantity" } }
country = { choices = ["FR", "DE", "US"], description = "Country", default_value = "FR" }
when = { type = "datetime", description = "When" }
day = { type = "date", description = "Day", required = true }
at = { type = "time", description = "At" }
ratio = { type = "number", description = "Ratio" }
ok = { type = "boolean", description = "Ok", default_value = true }
extra = { type = "dict", key_type = "text", value_type = "text", description = "Extra" }
tags = { type = "list", item_type = "text", description = "Tags" }
counts = { type = "list", item_type = "integer", description = "Counts", required = true }
notes = { type = "list", item_type = "concept", item_concept_ref = "Note", description = "Notes", hints = { intent = "prose" } }
friend = { type = "concept", concept_ref = "Label", description = "A friend", hints = { intent = "prose" } }
body = { type = "text", description = "Body", hints = { intent = "prose" } }

[concept.Person]
description = "A person"
hints = { intent = "label", other = "x" }

[concept.Person.structure]
name = { type = "text", description = "Name", required = true }
home = { type = "concept", concept_ref = "Address", description = "Home" }
pictures = { type = "list", item_type = "concept", item_concept_ref = "Image", description = "Pictures" }

[concept.Employee]
description = "An employee"
refines = "Person"

[pipe.combine]
description = "Combine"
output = "Text"

[pipe.combine.inputs]
note = "Note"
label = "Label"
sub = "SubNote"
photo = "Photo"
verdict = "Verdict"
addr = "Address"
people = "Person[]"
pair = "Person[2]"
maybe = "Text?"
forced = "Text!"
doc = "Document"
img = "Image"
emp = "Employee"
when = "Date"
t = "Time"
n = "Number"
yn = "YesNo"
md = "Markdown"
choice = "Choice"
rating = "Rating"
page = "Page"
tai = "TextAndImages"
html = "Html"
js = "JSON"
sr = "SearchResult"
any = "Anything"
hinted = { concept = "Text", hints = { intent = "label" } }
hinted_list = { concept = "Text[]", hints = { intent = "label" } }
hinted_opt = { concept = "Label?", hints = { intent = "prose" } }

[pipe.make_people]
description = "Make people"
inputs = { name = "Text" }
output = "Person[]"

[pipe.make_verdict]
description = "Make a verdict"
output = "YesNo"

[pipe.make_pair]
description = "Make a pair"
inputs = { name = "Text" }
output = "Text[2]"

[pipe.make_label]
description = "Label"
inputs = { name = "Label[3]" }
output = "Label"

[pipe.make_date]
description = "Date"
output = "Date?"

[pipe.make_addr]
description = "Addr"
output = "Address[3]"

[pipe.make_emp]
description = "Emp"
output = "Employee"

[pipe.make_verdicts]
description = "Verdicts"
output = "Verdict[]"
"""

DATE_FIELDS = [
    {
        "kind": "date",
        "name": "date",
        "description": "The calendar date, in ISO 8601 (e.g. 2026-07-07). Always required.",
        "required": True,
        "datetime": False,
    },
    {
        "kind": "text",
        "name": "time",
        "description": "The time of day, in ISO 8601 (e.g. 15:40:00, or 15:40:00+02:00 with a UTC offset). "
        "Include it only when the source states a time — never invent a time. "
        "Keep the UTC offset exactly when the source states one.",
        "required": False,
        "format": "time",
    },
]
DATE_DESCRIPTION = "A calendar date, optionally with a time of day — as precise as its source states."
YES_NO_FIELDS = [
    {
        "kind": "boolean",
        "name": "yes_no",
        "description": "Whether the answer is yes (true) or no (false).",
        "required": True,
    },
    {
        "kind": "number",
        "name": "probability",
        "description": "The probability that the answer is yes, from 0 to 1, when the producer reports one.",
        "required": False,
        "integer": False,
    },
]
SLOT = {"required": True, "presence": "plain", "gating": True}


def validated(text: str) -> ValidationReport:
    report = validate_sources([BundleSource(path="forms.mthds", text=text)], builtin_deck())
    assert report.is_valid, report.issues
    assert report.library is not None
    return report


@pytest.fixture(scope="module")
def report() -> ValidationReport:
    return validated(FORMS_BUNDLE)


@pytest.fixture(scope="module")
def inputs(report: ValidationReport) -> dict[str, dict[str, Any]]:
    assert report.library is not None
    return input_form(report.library, report.bundle_blueprints, report.pipe_io_contracts)


@pytest.fixture(scope="module")
def outputs(report: ValidationReport) -> dict[str, dict[str, Any]]:
    assert report.library is not None
    return output_form(report.library, report.bundle_blueprints, report.pipe_io_contracts)


@pytest.fixture(scope="module")
def combine(inputs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {field["name"]: field for field in inputs["rich.combine"]["fields"]}


def test_forms_are_keyed_like_the_contracts_and_keep_the_authored_input_order(
    report: ValidationReport, inputs: dict[str, Any], outputs: dict[str, Any]
) -> None:
    assert list(inputs) == list(outputs) == list(report.pipe_io_contracts)
    for ref, contract in report.pipe_io_contracts.items():
        assert [field["name"] for field in inputs[ref]["fields"]] == list(contract["inputs"])
    assert inputs["rich.make_verdict"] == {"fields": []}


def test_every_descriptor_is_the_standards_closed_shape_and_dumps_back_unchanged(
    inputs: dict[str, Any], outputs: dict[str, Any]
) -> None:
    for ref, descriptor in inputs.items():
        parsed = PipeInputFormDescriptor.model_validate(descriptor)
        assert json.dumps(parsed.model_dump(mode="json")) == json.dumps(descriptor), ref
    for ref, descriptor in outputs.items():
        parsed_output = PipeOutputFormDescriptor.model_validate(descriptor)
        assert json.dumps(parsed_output.model_dump(mode="json")) == json.dumps(descriptor), ref


def test_presence_states_required_and_gating(combine: dict[str, dict[str, Any]]) -> None:
    text = {"kind": "prose", "concept_ref": "native.Text", "description": "A text"}
    assert combine["maybe"] == {
        **text, "name": "maybe", "required": False, "presence": "optional", "gating": False,
    }  # fmt: skip
    assert combine["forced"] == {
        **text,
        "name": "forced",
        "required": True,
        "presence": "force",
        "gating": True,
    }
    # A variable list is required yet never gates (the empty list is a value); a fixed one gates.
    assert (combine["people"]["gating"], combine["people"].get("item_count")) == (False, None)
    assert (combine["pair"]["gating"], combine["pair"]["item_count"]) == (True, 2)
    assert combine["pair"]["item"]["kind"] == "object"
    assert "name" not in combine["pair"]["item"]
    assert "presence" not in combine["pair"]["item"]


def test_text_kinds_follow_the_concept_and_the_intent_hints(combine: dict[str, dict[str, Any]]) -> None:
    # A description-only concept holds prose; its implicit Text link is no authored refinement.
    assert combine["note"] == {
        "kind": "prose", "name": "note", "concept_ref": "rich.Note", "description": "A short note", **SLOT,
    }  # fmt: skip
    assert combine["sub"]["refines"] == ["rich.Note"]
    assert combine["sub"]["kind"] == "prose"
    # The concept's `intent = "label"` makes a text; the slot's `intent = "prose"` wins over it.
    assert combine["label"] == {
        "kind": "text", "name": "label", "concept_ref": "rich.Label", "refines": ["native.Text"],
        "description": "A label", **SLOT, "hints": {"intent": "label"},
    }  # fmt: skip
    assert (combine["hinted_opt"]["kind"], combine["hinted_opt"]["hints"]) == ("prose", {"intent": "prose"})
    assert combine["hinted"]["kind"] == "text"
    # A plural slot's hints ride the list and its item.
    assert combine["hinted_list"]["hints"] == combine["hinted_list"]["item"]["hints"] == {"intent": "label"}
    assert combine["hinted_list"]["item"]["kind"] == "text"
    assert combine["md"] == {
        "kind": "prose", "name": "md", "concept_ref": "native.Markdown",
        "description": "A text written in Markdown", **SLOT,
    }  # fmt: skip


def test_natives_are_described_by_identity(combine: dict[str, dict[str, Any]]) -> None:
    assert combine["when"] == {
        "kind": "object", "name": "when", "concept_ref": "native.Date", "description": DATE_DESCRIPTION,
        **SLOT, "fields": DATE_FIELDS,
    }  # fmt: skip
    assert combine["t"]["kind"] == "text"
    assert combine["t"]["format"] == "time"
    assert (combine["n"]["kind"], combine["n"]["integer"]) == ("number", False)
    assert combine["doc"] == {
        "kind": "document", "name": "doc", "concept_ref": "native.Document", "description": "A document", **SLOT,
    }  # fmt: skip
    assert combine["photo"] == {
        "kind": "image", "name": "photo", "concept_ref": "rich.Photo", "refines": ["native.Image"],
        "description": "A photo of the thing", **SLOT,
    }  # fmt: skip
    assert combine["js"]["fields"] == [
        {"kind": "unknown", "name": "json_obj", "description": "The JSON object", "required": True}
    ]
    assert combine["any"] == {
        "kind": "unknown", "name": "any", "concept_ref": "native.Anything", "description": "Anything", **SLOT,
    }  # fmt: skip
    kinds = {name: combine[name]["kind"] for name in ("choice", "rating", "page", "tai", "html", "sr")}
    assert set(kinds.values()) == {"object"}
    page_fields = {field["name"]: field for field in combine["page"]["fields"]}
    assert page_fields["text_and_images"]["kind"] == "object"
    assert page_fields["page_view"]["kind"] == "image"


def test_yes_no_is_a_boolean_in_and_an_object_out(
    combine: dict[str, dict[str, Any]], outputs: dict[str, Any]
) -> None:
    assert combine["yn"]["kind"] == "boolean"
    assert combine["verdict"]["refines"] == ["native.YesNo"]
    assert combine["verdict"]["kind"] == "boolean"
    assert outputs["rich.make_verdict"] == {
        "field": {
            "kind": "object", "name": "output", "concept_ref": "native.YesNo",
            "description": "The answer to a yes/no question", "required": True, "fields": YES_NO_FIELDS,
        }
    }  # fmt: skip


def test_structure_fields_state_their_own_facts(combine: dict[str, dict[str, Any]]) -> None:
    fields = {field["name"]: field for field in combine["addr"]["fields"]}
    assert fields["street"] == {
        "kind": "text",
        "name": "street",
        "description": "The street",
        "required": True,
    }
    assert fields["zip"] == {
        "kind": "number", "name": "zip", "description": "Zip code", "required": False,
        "hints": {"intent": "quantity"}, "integer": True,
    }  # fmt: skip
    assert fields["country"] == {
        "kind": "enum", "name": "country", "description": "Country", "required": False,
        "default_value": "FR", "choices": ["FR", "DE", "US"],
    }  # fmt: skip
    assert (fields["when"]["kind"], fields["when"]["datetime"]) == ("date", True)
    assert fields["ok"]["default_value"] is True
    assert fields["extra"] == {"kind": "unknown", "name": "extra", "description": "Extra", "required": False}
    assert fields["tags"]["item"] == {"kind": "text", "required": True}
    assert fields["counts"]["item"] == {"kind": "number", "required": True, "integer": True}
    assert fields["notes"]["item"] == {
        "kind": "prose", "concept_ref": "rich.Note", "description": "A short note", "required": True,
        "hints": {"intent": "prose"},
    }  # fmt: skip
    # A concept-typed field takes the field's description and required flag, and its hints merged.
    assert fields["friend"] == {
        "kind": "prose", "name": "friend", "concept_ref": "rich.Label", "refines": ["native.Text"],
        "description": "A friend", "required": False, "hints": {"intent": "prose"},
    }  # fmt: skip
    for name in ("addr", "emp"):
        assert all("presence" not in field and "gating" not in field for field in combine[name]["fields"])


def test_a_refining_concept_takes_its_parents_structure_and_hints(combine: dict[str, dict[str, Any]]) -> None:
    employee, person = combine["emp"], combine["pair"]["item"]
    assert employee["refines"] == ["rich.Person"]
    assert employee["hints"] == person["hints"] == {"intent": "label", "other": "x"}
    assert employee["fields"] == person["fields"]


def test_outputs_are_named_output_and_plural_ones_are_lists(outputs: dict[str, Any]) -> None:
    assert outputs["rich.make_pair"] == {
        "field": {
            "kind": "list", "name": "output", "concept_ref": "native.Text", "description": "A text",
            "required": True,
            "item": {"kind": "prose", "concept_ref": "native.Text", "description": "A text", "required": True},
            "item_count": 2,
        }
    }  # fmt: skip
    assert outputs["rich.make_date"]["field"]["fields"] == DATE_FIELDS  # `Date?`: optional is the contract's
    verdicts = outputs["rich.make_verdicts"]["field"]
    assert (verdicts["kind"], "item_count" in verdicts) == ("list", False)
    assert verdicts["item"]["fields"] == YES_NO_FIELDS
    assert outputs["rich.make_label"]["field"]["kind"] == "text"
    for descriptor in outputs.values():
        assert "presence" not in descriptor["field"]
        assert "gating" not in descriptor["field"]


def test_a_cycle_of_structures_ends_in_an_unknown_node() -> None:
    report = validated(
        'domain = "loop"\n'
        '[concept.A]\ndescription = "An A"\n[concept.A.structure]\n'
        'b = { type = "concept", concept_ref = "B", description = "its B" }\n'
        '[concept.B]\ndescription = "A B"\n[concept.B.structure]\n'
        'a = { type = "concept", concept_ref = "A", description = "its A" }\n'
        '[pipe.take]\ndescription = "Takes an A"\ninputs = { a = "A" }\noutput = "Text"\n'
    )
    assert report.library is not None
    [field] = input_form(report.library, report.bundle_blueprints, report.pipe_io_contracts)["loop.take"][
        "fields"
    ]
    [b] = field["fields"]
    assert b["fields"] == [
        {"kind": "unknown", "name": "a", "concept_ref": "loop.A", "description": "its A", "required": False}
    ]
