"""The native concepts as the MTHDS standard pins them (native-concepts page, pinned set of MTHDS 5.0.0). Pure.

Each native's description and structure in the standard's own words: its fields' descriptions, types and
required flags. Those are wire text, which two implementations must state alike, so every surface that
states a native to a caller reads them here: the input and output forms, the crate of `/v1/resolve` (and
the code generated from it), and the JSON Schemas of `pipe_io_contracts` (`contract_schema`). They are
kept apart from `shared.language.natives`, whose structures and descriptions are this service's own
(content models, structured output, dry runs).
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

# Every native with a shape, in the standard's order; Dynamic, Anything and Composite have none (their
# shape is open by design).
PINNED_STRUCTURES: dict[str, dict[str, FieldBlueprint]] = {
    "Text": {"text": _text("The text", required=True)},
    "Markdown": {"text": _text("The text, written in Markdown", required=True)},
    "Image": {
        "url": _text("The image URL: a storage URI, an HTTP(S) URL, or a base64 data URL", required=True),
        "public_url": _text("The public URL of the image"),
        "source_prompt": _text("The source prompt of the image"),
        "source_negative_prompt": _text("The source negative prompt of the image"),
        "caption": _text("The caption of the image"),
        "mime_type": _text("The MIME type of the image"),
        "width": _field(FieldType.INTEGER, "The width of the image, in pixels"),
        "height": _field(FieldType.INTEGER, "The height of the image, in pixels"),
        "filename": _text("The original filename of the image"),
    },
    "Document": {
        "url": _text("The document URL: a storage URI, an HTTP(S) URL, or a base64 data URL", required=True),
        "public_url": _text("The public HTTPS URL of the document"),
        "mime_type": _text("The MIME type of the document"),
        "filename": _text("The original filename of the document"),
        "title": _text("The title of the document or source"),
        "snippet": _text("A text snippet or excerpt from the document"),
    },
    "Html": {
        "inner_html": _text("The inner HTML of the content", required=True),
        "css_class": _text("The CSS class of the content"),
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
    "Number": {"number": _field(FieldType.NUMBER, "The number", required=True)},
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
    "Time": {"time": _field(FieldType.TIME, _TIME_OF_DAY, required=True)},
    "Page": {
        "text_and_images": _field(
            FieldType.CONCEPT,
            "The text and images content extracted from the page",
            required=True,
            concept_ref="native.TextAndImages",
        ),
        "page_view": _field(FieldType.CONCEPT, "The screenshot of the page", concept_ref="native.Image"),
    },
    "JSON": {
        "json_obj": _field(
            FieldType.DICT, "The JSON object", required=True, key_type="text", value_type="Any"
        )
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
