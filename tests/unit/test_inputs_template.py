"""Inputs templates (shared/tooling/inputs_template.py): the light and explicit shapes, JSON and TOML.

The projection is the MTHDS standard's: every template here is compared byte for byte with the one
the `mthds` package (`mthds.protocol.inputs_template`) renders from the same descriptor, and the
templates are handed to this service's own input reader (`CallerInputs`), which must accept them.
"""

from __future__ import annotations

import json
import tomllib
from typing import Any

import pytest
from mthds.protocol.input_form import PipeInputFormDescriptor
from mthds.protocol.inputs_template import InputsTemplateFormat, render_inputs_template

from shared.language.report import ValidationReport
from shared.runtime.caller_inputs import CallerInputs
from shared.runtime.stuff import Stuff
from shared.runtime.stuff_codes import StuffCodes
from shared.tooling.input_forms import input_form
from shared.tooling.inputs_template import (
    MOCK_FILE_URL,
    inputs_template,
    inputs_template_json,
    inputs_template_toml,
    slot_signature,
)
from tests.unit.test_input_forms import FORMS_BUNDLE, validated

# A runnable-shaped method: every input kind a caller sends, as signatures (no model is involved).
INTAKE_BUNDLE = """domain = "intake"

[concept.Parcel]
description = "A parcel"

[concept.Parcel.structure]
label = { type = "concept", concept_ref = "Text", description = "Its label", required = true }
weight = { type = "number", description = "Weight in kg", required = true }
count = { type = "integer", description = "How many" }
fragile = { type = "boolean", description = "Fragile", default_value = false }
kind = { choices = ["box", "tube"], description = "Kind", required = true }
sent = { type = "date", description = "Sent on" }
tags = { type = "list", item_type = "text", description = "Tags" }

[pipe.take]
description = "Takes everything"
output = "Text"

[pipe.take.inputs]
text = "Text"
image = "Image"
document = "Document"
date = "Date"
time = "Time"
number = "Number"
answer = "YesNo"
json = "JSON"
parcel = "Parcel"
parcels = "Parcel[]"
pair = "Text[2]"
maybe = "Text?"

[pipe.nothing]
description = "Takes nothing"
output = "Text"
"""


def _forms(text: str) -> tuple[ValidationReport, dict[str, dict[str, Any]]]:
    report = validated(text)
    assert report.library is not None
    return report, input_form(report.library, report.bundle_blueprints, report.pipe_io_contracts)


@pytest.fixture(scope="module")
def intake() -> tuple[ValidationReport, dict[str, dict[str, Any]]]:
    return _forms(INTAKE_BUNDLE)


def test_light_values_unwrap_what_a_run_can_rebuild(intake: tuple[ValidationReport, dict[str, Any]]) -> None:
    template = inputs_template(intake[1]["intake.take"], explicit=False)
    assert template == {
        "text": "text_value",
        "image": MOCK_FILE_URL,
        "document": MOCK_FILE_URL,
        # A native of several fields keeps its envelope: a bare value could not say which field it is.
        "date": {"concept": "native.Date", "content": {"date": "2026-01-01", "time": "12:00:00"}},
        "time": "12:00:00",
        "number": 1,
        "answer": False,
        "json": {"concept": "native.JSON", "content": {"json_obj": {}}},
        "parcel": {
            "label": {"text": "text_value"},
            "weight": 0.0,
            "count": 0,
            "fragile": False,
            "kind": "box",
            "sent": "2026-01-01",
            "tags": ["tags_item_value"],
        },
        "parcels": [inputs_template(intake[1]["intake.take"], explicit=False)["parcel"]],
        "pair": ["text_value", "text_value"],
        "maybe": "text_value",
    }


def test_explicit_wraps_every_input(intake: tuple[ValidationReport, dict[str, Any]]) -> None:
    template = inputs_template(intake[1]["intake.take"], explicit=True)
    assert all(set(value) == {"concept", "content"} for value in template.values())
    assert template["text"] == {"concept": "native.Text", "content": {"text": "text_value"}}
    assert template["image"] == {"concept": "native.Image", "content": {"url": MOCK_FILE_URL}}
    assert template["time"] == {"concept": "native.Time", "content": {"time": "12:00:00"}}
    assert template["answer"] == {"concept": "native.YesNo", "content": {"yes_no": False}}
    assert template["pair"] == {
        "concept": "native.Text",
        "content": [{"text": "text_value"}, {"text": "text_value"}],
    }
    assert template["parcels"]["concept"] == "intake.Parcel"
    assert len(template["parcels"]["content"]) == 1


def test_the_elements_of_a_fixed_list_are_distinct_values(
    intake: tuple[ValidationReport, dict[str, Any]],
) -> None:
    template = inputs_template(intake[1]["intake.take"], explicit=True)
    first, second = template["pair"]["content"]
    first["text"] = "filled"
    assert second == {"text": "text_value"}


def test_a_pipe_without_inputs_has_an_empty_template(intake: tuple[ValidationReport, dict[str, Any]]) -> None:
    descriptor = intake[1]["intake.nothing"]
    assert inputs_template(descriptor, explicit=False) == {}
    assert inputs_template_json(descriptor, explicit=True) == "{}"
    assert inputs_template_toml(descriptor, explicit=False) == ""
    assert inputs_template_toml(descriptor, explicit=True) == ""


def test_toml_layouts() -> None:
    _, forms = _forms(FORMS_BUNDLE)
    descriptor = forms["rich.make_label"]
    assert inputs_template_toml(descriptor, explicit=False) == (
        '# concept: rich.Label[3]\nname = ["text_value", "text_value", "text_value"]\n'
    )
    assert inputs_template_toml(descriptor, explicit=True) == (
        '[name]\nconcept = "rich.Label"\n\n'
        + '[[name.content]]\ntext = "text_value"\n\n' * 2
        + '[[name.content]]\ntext = "text_value"\n'
    )
    signatures = [slot_signature(field) for field in forms["rich.combine"]["fields"]]
    assert {"rich.Person[]", "rich.Person[2]", "native.Text?", "native.Text!", "rich.Label?"} <= set(
        signatures
    )


@pytest.mark.parametrize("explicit", [False, True])
def test_toml_reads_back_as_the_json_template(
    intake: tuple[ValidationReport, dict[str, Any]], explicit: bool
) -> None:
    for bundle_forms in (intake[1], _forms(FORMS_BUNDLE)[1]):
        for descriptor in bundle_forms.values():
            template = inputs_template(descriptor, explicit=explicit)
            assert tomllib.loads(inputs_template_toml(descriptor, explicit=explicit)) == template
            assert json.loads(inputs_template_json(descriptor, explicit=explicit)) == template


@pytest.mark.parametrize("explicit", [False, True])
@pytest.mark.parametrize("text", [FORMS_BUNDLE, INTAKE_BUNDLE], ids=["forms", "intake"])
def test_templates_are_the_mthds_packages_byte_for_byte(text: str, explicit: bool) -> None:
    _, forms = _forms(text)
    for ref, descriptor in forms.items():
        standard = PipeInputFormDescriptor.model_validate(descriptor)
        for output_format, ours in (
            (InputsTemplateFormat.JSON, inputs_template_json),
            (InputsTemplateFormat.TOML, inputs_template_toml),
        ):
            theirs = render_inputs_template(
                descriptor=standard, explicit=explicit, output_format=output_format
            )
            assert ours(descriptor, explicit=explicit) == theirs, (ref, output_format)


@pytest.mark.parametrize("explicit", [False, True])
def test_this_services_input_reader_takes_both_shapes(
    intake: tuple[ValidationReport, dict[str, Any]], explicit: bool
) -> None:
    report, forms = intake
    assert report.library is not None
    entry = report.library.pipes["intake.take"]
    template = inputs_template(forms["intake.take"], explicit=explicit)
    memory = CallerInputs(report.library, StuffCodes("template")).memory_for(entry, template)
    stored = {name: memory.lookup(name) for name in template}
    stuffs = {name: value for name, value in stored.items() if isinstance(value, Stuff)}
    assert set(stuffs) == set(template)  # every input is a value, none an absence
    assert stuffs["text"].content == {"text": "text_value"}
    assert stuffs["parcel"].content["kind"] == "box"
    assert stuffs["date"].concept == "native.Date"
    assert stuffs["pair"].content == {"items": [{"text": "text_value"}, {"text": "text_value"}]}
