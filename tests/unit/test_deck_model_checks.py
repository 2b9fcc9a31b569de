"""The validator checks every model a pipe will call against the deck, as the worker resolves it: the model
it names, else its operator's default for its output kind (`shared/language/model_choice.py`)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.language.issues import ErrorType
from shared.language.model_deck import ModelDeck, service_deck
from shared.language.report import BundleSource, ValidationReport
from shared.language.validator import validate_sources
from tests.helpers.readme_deck import readme_deck

# A raw deck (not laid over the built-in one): it serves only what it lists.
BARE = ModelDeck.from_toml(
    """
[models.scribe]
type = "llm"
provider = "openai"
model = "scribe-1"

[aliases.llm]
default-general = "scribe"
dangling = "nowhere"

[waterfalls.llm]
broken = ["nowhere"]
"""
)

HEAD = """domain = "deck_checks"

[concept.Hours]
description = "Opening hours"

[concept.Hours.structure]
shop = { type = "text", description = "Shop", required = true }
"""


def _validate(pipe: str, deck: ModelDeck) -> ValidationReport:
    return validate_sources([BundleSource(path="bundle.mthds", text=HEAD + pipe)], deck)


def _unknown_models(report: ValidationReport) -> list[tuple[str | None, str | None, dict[str, Any]]]:
    return [
        (issue.pipe, issue.field, issue.params)
        for issue in report.issues
        if issue.error_type == ErrorType.UNKNOWN_MODEL
    ]


LLM_STRUCTURED = """
[pipe.hours]
type = "PipeLLM"
description = "Reads opening hours"
inputs = { name = "Text" }
output = "Hours"
prompt = "Opening hours of {{ name }}."
"""


def test_a_structured_pipe_without_model_needs_a_deck_default() -> None:
    # The worker tries `@default-structured`, then `@default-general`: BARE serves the second.
    assert _validate(LLM_STRUCTURED, BARE).is_valid
    bare_no_general = ModelDeck.from_toml('[models.scribe]\ntype = "llm"\nprovider = "openai"\nmodel = "s"\n')
    report = _validate(LLM_STRUCTURED, bare_no_general)
    assert not report.is_valid
    [(pipe, field, params)] = _unknown_models(report)
    assert (pipe, field) == ("hours", "pipe.hours.model")
    assert params == {"model_reference": "@default-structured", "model_type": "llm", "implicit": True}
    [issue] = report.issues
    assert "'@default-structured'" in issue.message
    assert "'@default-general'" in issue.message


def test_the_readme_deck_serves_a_structured_pipe_without_model() -> None:
    report = _validate(LLM_STRUCTURED, service_deck(readme_deck()))
    assert report.is_valid, report.issues


@pytest.mark.parametrize(
    ("pipe", "reference", "family"),
    [
        (
            '[pipe.judge]\ntype = "PipeJudge"\ndescription = "d"\ninputs = { text = "Text" }\n'
            'output = "YesNo"\nprompt = "{{ text }}"\nquestion = "Is it?"\n',
            "@default-judgment",
            "judgment",
        ),
        (
            '[pipe.pages]\ntype = "PipeExtract"\ndescription = "d"\ninputs = { doc = "Document" }\n'
            'output = "Page[]"\n',
            "@default-extract-document",
            "extract",
        ),
        (
            '[pipe.paint]\ntype = "PipeImgGen"\ndescription = "d"\ninputs = { text = "Text" }\n'
            'output = "Image"\nprompt = "{{ text }}"\n',
            "@default-general",
            "img_gen",
        ),
        (
            '[pipe.find]\ntype = "PipeSearch"\ndescription = "d"\ninputs = { text = "Text" }\n'
            'output = "SearchResult"\nprompt = "{{ text }}"\n',
            "@default-search",
            "search",
        ),
    ],
)
def test_each_operator_default_is_checked(pipe: str, reference: str, family: str) -> None:
    empty = ModelDeck.from_toml("")
    report = _validate(pipe, empty)
    assert not report.is_valid
    found = _unknown_models(report)
    assert found
    assert (found[0][2]["model_reference"], found[0][2]["model_type"]) == (reference, family)
    assert _validate(pipe, service_deck(None)).is_valid


def test_a_text_pipe_needs_only_the_general_default() -> None:
    text_pipe = LLM_STRUCTURED.replace('output = "Hours"', 'output = "Text"')
    only_structured = ModelDeck.from_toml(
        '[models.s]\ntype = "llm"\nprovider = "openai"\nmodel = "s"\n[aliases.llm]\ndefault-structured = "s"\n'
    )
    assert _validate(LLM_STRUCTURED, only_structured).is_valid
    report = _validate(text_pipe, only_structured)
    assert [params["model_reference"] for _, _, params in _unknown_models(report)] == ["@default-general"]


@pytest.mark.parametrize("reference", ["@dangling", "~broken", "nowhere", "@nope"])
def test_a_named_reference_must_lead_to_a_model(reference: str) -> None:
    # `@dangling` and `~broken` exist in the deck but lead to no model: the worker could not call them.
    pipe = LLM_STRUCTURED + f'model = "{reference}"\n'
    report = _validate(pipe, BARE)
    assert not report.is_valid
    [(_, field, params)] = _unknown_models(report)
    assert field == "pipe.hours.model"
    assert params == {"model_reference": reference, "model_type": "llm", "implicit": False}
