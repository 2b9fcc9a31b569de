"""The model reference check: each reference form resolved, not found or ambiguous, with its matches,
suggestions and the same name elsewhere; references that are none refused with the reason."""

from __future__ import annotations

from typing import Any

import pytest

from shared.language.model_deck import ModelFamily, builtin_deck, service_deck
from shared.language.model_reference_check import (
    MAX_MODEL_REFERENCE_CHARS,
    ModelReferenceError,
    ReferenceKind,
    Resolution,
    check_model_reference,
    parse_reference,
)

DECK = service_deck(
    """
[models.fast]
type = "llm"
provider = "openai"
model = "fast-1"

[models."@odd"]
type = "llm"
provider = "openai"
model = "odd-1"

[aliases.llm]
quick = "fast"
chained = "@quick"

[presets.llm]
writing-factual = "fast"

[waterfalls.llm]
sturdy = ["@quick", "gpt-4o"]

[presets.judgment]
strict = "gpt-4o"
"""
)


def _verdict(text: str, category: ModelFamily | None = None, deck: Any = DECK) -> dict[str, Any]:
    return check_model_reference(deck, parse_reference(text), category).model_dump(mode="json")


@pytest.mark.parametrize(
    ("text", "kind", "name"),
    [
        ("$writing-factual", "preset", "writing-factual"),
        ("preset:writing-factual", "preset", "writing-factual"),
        ("@quick", "alias", "quick"),
        ("alias:quick", "alias", "quick"),
        ("~sturdy", "waterfall", "sturdy"),
        ("waterfall:sturdy", "waterfall", "sturdy"),
        ("fast", "handle", "fast"),
        ("handle:fast", "handle", "fast"),
        ("  @quick \t", "alias", "quick"),
    ],
)
def test_every_form_parses_to_its_kind_and_name(text: str, kind: str, name: str) -> None:
    reference = parse_reference(text)
    assert (reference.kind.value, reference.name, reference.raw) == (kind, name, text.strip())


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "required"),
        ("   ", "required"),
        ("$", "names no model"),
        ("@", "names no model"),
        ("~ ", "names no model"),
        ("alias:", "names no model"),
        ("handle:", "names no model"),
        ("x" * (MAX_MODEL_REFERENCE_CHARS + 1), "characters"),
    ],
)
def test_texts_that_are_no_reference_are_refused(text: str, reason: str) -> None:
    with pytest.raises(ModelReferenceError, match=reason):
        parse_reference(text)


def test_the_longest_reference_is_accepted() -> None:
    assert (
        parse_reference(" " + "x" * MAX_MODEL_REFERENCE_CHARS + " ").name == "x" * MAX_MODEL_REFERENCE_CHARS
    )


def test_a_preset_resolves_with_its_target() -> None:
    assert _verdict("$writing-factual") == {
        "reference": "$writing-factual",
        "kind": "preset",
        "name": "writing-factual",
        "category": None,
        "resolution": "resolved",
        "matches": [{"category": "llm", "resolves_to": "fast", "target": "fast", "description": None}],
        "suggestions": [],
        "other_kinds": [],
        "other_categories": [],
    }


def test_an_alias_chain_resolves_to_the_model_a_run_calls() -> None:
    verdict = _verdict("@chained")
    assert verdict["matches"] == [{"category": "llm", "resolves_to": "fast", "target": "@quick"}]


def test_a_waterfall_resolves_to_its_first_usable_step() -> None:
    verdict = _verdict("~sturdy")
    assert verdict["matches"] == [
        {"category": "llm", "resolves_to": "fast", "fallbacks": ["@quick", "gpt-4o"]}
    ]


def test_a_handle_lists_the_entries_binding_it_directly_in_each_category() -> None:
    verdict = _verdict("gpt-4o")
    assert verdict["resolution"] == "resolved"
    # An LLM also serves judgment: one model, two categories, no ambiguity.
    assert verdict["matches"] == [
        {"category": "llm", "resolves_to": "gpt-4o", "via": ["@default-general", "~sturdy"]},
        {
            "category": "judgment",
            "resolves_to": "gpt-4o",
            "via": ["$strict", "@default-judgment", "@default-judgment-vision"],
        },
    ]


def test_a_type_narrows_the_matches() -> None:
    verdict = _verdict("gpt-4o", ModelFamily.JUDGMENT)
    assert verdict["category"] == "judgment"
    assert [match["category"] for match in verdict["matches"]] == ["judgment"]


def test_a_bare_name_the_deck_reads_as_an_alias_reports_that_kind() -> None:
    verdict = _verdict("quick")
    assert (verdict["kind"], verdict["resolution"]) == ("alias", "resolved")
    assert verdict["matches"] == [{"category": "llm", "resolves_to": "fast", "target": "fast"}]


def test_a_bare_name_meaning_different_models_without_type_is_ambiguous() -> None:
    verdict = _verdict("default-general", deck=builtin_deck())
    assert (verdict["kind"], verdict["resolution"]) == ("handle", "ambiguous")
    assert verdict["matches"] == [
        {"category": "llm", "resolves_to": "gpt-4o", "target": "gpt-4o"},
        {"category": "img_gen", "resolves_to": "gpt-image-1", "target": "gpt-image-1"},
    ]
    narrowed = _verdict("default-general", ModelFamily.IMG_GEN, deck=builtin_deck())
    assert (narrowed["kind"], narrowed["resolution"]) == ("alias", "resolved")


def test_a_sigil_reference_in_several_categories_is_resolved_not_ambiguous() -> None:
    verdict = _verdict("@default-general", deck=builtin_deck())
    assert verdict["resolution"] == "resolved"
    assert [match["category"] for match in verdict["matches"]] == ["llm", "img_gen"]


def test_a_misspelled_handle_gets_close_names() -> None:
    verdict = _verdict("gpt-4o-minii")
    assert verdict["resolution"] == "not_found"
    assert verdict["matches"] == []
    assert verdict["suggestions"][0] == "gpt-4o-mini"
    assert "gpt-4o" in verdict["suggestions"]


def test_a_wrong_sigil_names_the_same_name_under_its_kind() -> None:
    verdict = _verdict("$quick")
    assert verdict["resolution"] == "not_found"
    assert verdict["other_kinds"] == ["@quick"]
    assert verdict["other_categories"] == []


def test_a_reference_of_another_category_names_where_it_resolves() -> None:
    verdict = _verdict("$strict", ModelFamily.LLM)
    assert verdict["resolution"] == "not_found"
    assert verdict["other_categories"] == ["judgment"]


def test_a_handle_that_would_read_as_an_alias_is_suggested_in_its_namespace() -> None:
    verdict = _verdict("handle:@od", ModelFamily.LLM)
    assert verdict["resolution"] == "not_found"
    assert "handle:@odd" in verdict["suggestions"]


def test_a_model_of_another_category_does_not_resolve_there() -> None:
    verdict = _verdict("gpt-image-1", ModelFamily.LLM)
    assert verdict["resolution"] == "not_found"
    assert verdict["other_categories"] == ["img_gen"]


def test_resolution_agrees_with_the_deck_the_validator_reads() -> None:
    # A verdict is only useful if it matches what a pipe naming the reference would get.
    for text in ("fast", "@quick", "$writing-factual", "~sturdy", "gpt-image-1", "@nope", "quick"):
        for family in ModelFamily:
            resolved = check_model_reference(DECK, parse_reference(text), family).resolution
            assert (resolved is Resolution.RESOLVED) == (DECK.resolve(family, text) is not None), (
                text,
                family,
            )


def test_kinds_are_the_four_of_the_reference() -> None:
    assert [kind.value for kind in ReferenceKind] == ["preset", "alias", "waterfall", "handle"]
