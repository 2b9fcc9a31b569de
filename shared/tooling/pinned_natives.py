"""The native concepts as the MTHDS standard pins them (native-concepts page, pinned set of MTHDS 5.0.0). Pure.

The input and output forms describe a native by the standard's own words: its description and its
structure fields' descriptions and required flags. Those are wire text, which two implementations must
state alike, so they are kept here apart from `shared.language.natives`, whose descriptions are this
service's own (they feed the JSON Schemas of `pipe_io_contracts`).
"""

from __future__ import annotations

from typing import Any

from shared.language.blueprint import FieldBlueprint, FieldType


def _field(kind: FieldType, description: str, *, required: bool = False, **extra: Any) -> FieldBlueprint:
    return FieldBlueprint.model_validate(
        {"description": description, "type": kind, "required": required, **extra}
    )


def _text(description: str, *, required: bool = False) -> FieldBlueprint:
    return _field(FieldType.TEXT, description, required=required)


def _number(description: str) -> FieldBlueprint:
    return _field(FieldType.NUMBER, description)


def _number_map(description: str) -> FieldBlueprint:
    return _field(FieldType.DICT, description, key_type="text", value_type="number")


PINNED_DESCRIPTIONS: dict[str, str] = {
    "Dynamic": "A dynamic concept",
    "Text": "A text",
    "Markdown": "A text written in Markdown",
    "Image": "An image",
    "Document": "A document",
    "Html": "HTML content",
    "TextAndImages": "A text and an image",
    "Number": "A number",
    "YesNo": "The answer to a yes/no question",
    "Choice": "One option picked out of a declared set",
    "Rating": "A position on an ordered scale of described levels",
    "Date": "A calendar date, optionally with a time of day — as precise as its source states.",
    "Time": "A time of day, optionally with a UTC offset — as precise as its source states.",
    "Page": "The content of a page of a document, comprising text and linked images and an optional page view image",
    "JSON": "A JSON object",
    "SearchResult": "A search result with answer and sources",
    "Anything": "Anything",
    "Composite": "A named composition of contents",
}

_TIME_OF_DAY = "The time of day, in ISO 8601 (e.g. 15:40:00, or 15:40:00+02:00 with a UTC offset)."

# Only the natives a form states as an `object` need their fields here: the others are leaves
# (prose, number, boolean, text, image, document) or have no shape at all (unknown).
PINNED_STRUCTURES: dict[str, dict[str, FieldBlueprint]] = {
    "YesNo": {
        "yes_no": _field(FieldType.BOOLEAN, "Whether the answer is yes (true) or no (false).", required=True),
        "probability": _number(
            "The probability that the answer is yes, from 0 to 1, when the producer reports one."
        ),
    },
    "Choice": {
        "choice": _text("The key of the selected option.", required=True),
        "confidence": _number("The producer's confidence in the choice, from 0 to 1, when it reports one."),
        "probabilities": _number_map(
            "The probability of each option, keyed by option key, when the producer measures a distribution."
        ),
    },
    "Rating": {
        "level": _field(
            FieldType.INTEGER,
            "The index of the selected level, 0 being the first level declared.",
            required=True,
        ),
        "label": _text("The label of the selected level, when the scale declares labels."),
        "confidence": _number("The producer's confidence in the level, from 0 to 1, when it reports one."),
        "probabilities": _number_map(
            "The probability of each level, keyed by level index written as text, "
            "when the producer measures a distribution."
        ),
        "position": _number(
            "A continuous position on the scale, from 0 to the index of the last level, "
            "when the producer measures one."
        ),
    },
    "Date": {
        "date": _field(
            FieldType.DATE,
            "The calendar date, in ISO 8601 (e.g. 2026-07-07). Always required.",
            required=True,
        ),
        "time": _field(
            FieldType.TIME,
            _TIME_OF_DAY.removesuffix(".") + ". Include it only when the source states a time — never "
            "invent a time. Keep the UTC offset exactly when the source states one.",
        ),
    },
    "Html": {
        "inner_html": _text("The inner HTML of the content", required=True),
        "css_class": _text("The CSS class of the content"),
    },
    "JSON": {
        "json_obj": _field(
            FieldType.DICT, "The JSON object", required=True, key_type="text", value_type="any"
        )
    },
    "TextAndImages": {
        "text": _field(FieldType.CONCEPT, "A text content", concept_ref="native.Text"),
        "images": _field(
            FieldType.LIST,
            "A list of images that were extracted from the text",
            item_type="concept",
            item_concept_ref="native.Image",
        ),
        "raw_html": _text("The raw HTML of the fetched page, if requested"),
    },
    "Page": {
        "text_and_images": _field(
            FieldType.CONCEPT,
            "The text and images content extracted from the page",
            required=True,
            concept_ref="native.TextAndImages",
        ),
        "page_view": _field(FieldType.CONCEPT, "The screenshot of the page", concept_ref="native.Image"),
    },
    "SearchResult": {
        "answer": _text("The answer to the search query", required=True),
        "sources": _field(
            FieldType.LIST,
            "The source documents supporting the answer",
            required=True,
            item_type="concept",
            item_concept_ref="native.Document",
        ),
    },
}
