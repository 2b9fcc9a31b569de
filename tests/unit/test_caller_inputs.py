"""Caller inputs of every shape become typed stuffs (mthds.md §4.3, http-api.md §4.2)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.language.library import Library
from shared.runtime.caller_inputs import CallerInputs, InputRefused
from shared.runtime.stuff import Absence, Stuff
from shared.runtime.stuff_codes import StuffCodes
from shared.runtime.working_memory import WorkingMemory
from tests.helpers.methods import library_of

SHAPES = """
domain = "desk"
description = "Inputs of every shape"

[concept.Question]
description = "A question a customer asks"
refines = "Text"

[concept.Parcel]
description = "A parcel"

[concept.Parcel.structure]
ref = { type = "text", description = "Reference", required = true }
weight = { type = "number", description = "Weight in kg", required = true }

[pipe.take]
type = "PipeCompose"
description = "Reads everything"
inputs = { question = "Question", words = "Text[]", count = "Number", urgent = "YesNo", parcel = "Parcel", parcels = "Parcel[2]", photo = "Image", day = "Date", extra = "JSON", note = "Text?" }
output = "Text"
template = "$question $words $count $urgent $parcel $parcels $photo $extra $day. {% if note %}$note{% endif %}"
"""

OTHER_DOMAIN = """
domain = "yard"
description = "A second domain declaring a Parcel too"

[concept.Parcel]
description = "A yard parcel"
"""

VALID: dict[str, Any] = {
    "question": "Where is my parcel?",
    "words": ["fragile", "heavy"],
    "count": 3,
    "urgent": True,
    "parcel": {"ref": "QP-1", "weight": 2},
    "parcels": [{"ref": "QP-1", "weight": 2}, {"ref": "QP-2", "weight": 1.5}],
    "photo": "https://example.invalid/photo.png",
    "day": "2026-04-02",
    "extra": {"anything": [1, 2]},
}


@pytest.fixture(scope="module")
def library() -> Library:
    return library_of(SHAPES)


def memory_of(library: Library, inputs: dict[str, Any]) -> WorkingMemory:
    return CallerInputs(library, StuffCodes("test")).memory_for(library.pipes["desk.take"], inputs)


def stuff(memory: WorkingMemory, name: str) -> Stuff:
    value = memory.lookup(name)
    assert isinstance(value, Stuff)
    return value


def test_bare_values_are_read_by_their_json_shape(library: Library) -> None:
    memory = memory_of(library, VALID)
    assert (stuff(memory, "question").concept, stuff(memory, "question").content) == (
        "desk.Question",
        {"text": "Where is my parcel?"},
    )
    assert stuff(memory, "words").content == {"items": [{"text": "fragile"}, {"text": "heavy"}]}
    assert stuff(memory, "count").content == {"number": 3}
    assert stuff(memory, "urgent").content == {"yes_no": True, "probability": None}
    assert stuff(memory, "parcel").content == {"ref": "QP-1", "weight": 2.0}
    assert stuff(memory, "parcels").is_list
    assert stuff(memory, "photo").content["url"] == "https://example.invalid/photo.png"
    assert stuff(memory, "day").content == {"date": "2026-04-02", "time": None}
    assert stuff(memory, "extra").content == {"json_obj": {"anything": [1, 2]}}
    note = memory.lookup("note")
    assert isinstance(note, Absence)
    assert note.kind.value == "not_provided"


@pytest.mark.parametrize("concept", ["Text", "native.Text"])
def test_explicit_envelopes_name_a_compatible_concept(library: Library, concept: str) -> None:
    # Question only describes a Text, so a Text fits it (same content class, as in the reference).
    memory = memory_of(library, {**VALID, "question": {"concept": concept, "content": "Where?"}})
    assert (stuff(memory, "question").concept, stuff(memory, "question").content) == (
        "native.Text",
        {"text": "Where?"},
    )
    memory = memory_of(library, {**VALID, "words": {"concept": concept, "content": ["a", "b"]}})
    assert stuff(memory, "words").content == {"items": [{"text": "a"}, {"text": "b"}]}
    with pytest.raises(InputRefused) as refused:
        memory_of(library, {**VALID, "parcel": {"concept": concept, "content": "QP-1"}})
    assert refused.value.code == "input.wrong_concept"


def test_domain_qualified_and_bare_concepts_resolve_and_ambiguity_is_refused() -> None:
    library = library_of(SHAPES)
    memory = memory_of(
        library, {**VALID, "parcel": {"concept": "Parcel", "content": {"ref": "A", "weight": 1}}}
    )
    assert stuff(memory, "parcel").concept == "desk.Parcel"
    from shared.language.model_deck import builtin_deck
    from shared.language.report import BundleSource
    from shared.language.validator import validate_sources

    both = validate_sources(
        [BundleSource(path="desk.mthds", text=SHAPES), BundleSource(path="yard.mthds", text=OTHER_DOMAIN)],
        builtin_deck(),
    )
    assert both.library is not None
    with pytest.raises(InputRefused) as refused:
        memory_of(
            both.library, {**VALID, "parcel": {"concept": "Parcel", "content": {"ref": "A", "weight": 1}}}
        )
    assert refused.value.code == "input.wrong_concept"
    assert refused.value.params["matches"] == ["desk.Parcel", "yard.Parcel"]
    qualified = {"concept": "desk.Parcel", "content": {"ref": "A", "weight": 1}}
    assert stuff(memory_of(both.library, {**VALID, "parcel": qualified}), "parcel").concept == "desk.Parcel"


def test_a_whole_working_memory_is_accepted_as_inputs(library: Library) -> None:
    stuffs: list[tuple[str, str, Any]] = [
        ("question", "desk.Question", {"text": "Where?"}),
        ("words", "native.Text", [{"text": "a"}]),
        ("count", "native.Number", {"number": 1}),
        ("urgent", "native.YesNo", {"yes_no": False}),
        ("parcel", "desk.Parcel", {"ref": "A", "weight": 1}),
        ("parcels", "desk.Parcel", [{"ref": "A", "weight": 1}, {"ref": "B", "weight": 2}]),
        ("photo", "native.Image", {"url": "https://example.invalid/p.png"}),
        ("day", "native.Date", {"date": "2026-04-02"}),
        ("extra", "native.JSON", {"json_obj": {}}),
    ]
    root = {
        name: {"stuff_code": "X", "stuff_name": name, "concept": concept, "content": content}
        for name, concept, content in stuffs
    }
    memory = memory_of(library, {"root": root, "aliases": {}})
    assert stuff(memory, "question").content == {"text": "Where?"}
    assert len(stuff(memory, "parcels").items()) == 2


@pytest.mark.parametrize(
    ("name", "value", "code"),
    [
        ("count", "three", "input.wrong_concept"),
        ("count", True, "input.wrong_concept"),
        ("urgent", "yes", "input.wrong_concept"),
        ("parcels", [{"ref": "A", "weight": 1}], "input.wrong_multiplicity"),
        ("words", "just one", "input.wrong_multiplicity"),
        ("parcel", {"ref": "A", "weight": "heavy"}, "input.invalid"),
        ("parcel", {"ref": "A", "weight": 1, "colour": "red"}, "input.invalid"),
        ("day", "not a date", "input.invalid"),
        ("photo", 42, "input.wrong_concept"),
    ],
)
def test_values_that_do_not_fit_are_refused_naming_the_input(
    library: Library, name: str, value: Any, code: str
) -> None:
    with pytest.raises(InputRefused) as refused:
        memory_of(library, {**VALID, name: value})
    assert refused.value.code == code
    assert refused.value.params["input"] == name
    assert name in refused.value.message
