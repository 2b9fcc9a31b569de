"""The 18 native concepts of pipelex 0.92.2 (domain `native`) and their content structures. Pure.

Structures are written with the same field blueprints as declared concepts, so binding walks,
JSON Schemas and content models treat native and declared concepts alike (mthds.md §1.5).
"""

from __future__ import annotations

from shared.language.blueprint import FieldBlueprint, FieldType

NATIVE_DOMAIN = "native"


def _field(kind: FieldType, description: str, *, required: bool = False, **extra: str) -> FieldBlueprint:
    return FieldBlueprint.model_validate(
        {"description": description, "type": kind, "required": required, **extra}
    )


def _text(description: str, *, required: bool = False) -> FieldBlueprint:
    return _field(FieldType.TEXT, description, required=required)


def _concept(ref: str, description: str, *, required: bool = False) -> FieldBlueprint:
    return _field(FieldType.CONCEPT, description, required=required, concept_ref=ref)


def _probabilities(description: str) -> FieldBlueprint:
    return _field(FieldType.DICT, description, key_type="text", value_type="number")


_IMAGE = {
    "url": _text("Where the image is (http(s), data: or storage URL)", required=True),
    "public_url": _text("A public URL of the image"),
    "source_prompt": _text("The prompt the image was generated from"),
    "source_negative_prompt": _text("The negative prompt the image was generated with"),
    "caption": _text("A caption for the image"),
    "mime_type": _text("The image's MIME type"),
    "width": _field(FieldType.INTEGER, "Width in pixels"),
    "height": _field(FieldType.INTEGER, "Height in pixels"),
    "filename": _text("The image's file name"),
}

NATIVE_STRUCTURES: dict[str, dict[str, FieldBlueprint]] = {
    "Text": {"text": _text("The text", required=True)},
    "Markdown": {"text": _text("The Markdown text", required=True)},
    "Number": {"number": _field(FieldType.NUMBER, "The number", required=True)},
    "YesNo": {
        "yes_no": _field(FieldType.BOOLEAN, "The verdict", required=True),
        "probability": _field(FieldType.NUMBER, "Probability of yes, between 0 and 1"),
    },
    "Choice": {
        "choice": _text("The chosen option", required=True),
        "confidence": _field(FieldType.NUMBER, "Confidence in the choice"),
        "probabilities": _probabilities("Probability of each option"),
    },
    "Rating": {
        "level": _field(FieldType.INTEGER, "The level, from 0", required=True),
        "label": _text("The level's label"),
        "confidence": _field(FieldType.NUMBER, "Confidence in the rating"),
        "probabilities": _probabilities("Probability of each level"),
        "position": _field(FieldType.NUMBER, "Position on the scale"),
    },
    "Date": {
        "date": _field(FieldType.DATE, "The date (YYYY-MM-DD)", required=True),
        "time": _field(FieldType.TIME, "The time of day"),
    },
    "Time": {"time": _field(FieldType.TIME, "The time of day (HH:MM:SS)", required=True)},
    "Image": _IMAGE,
    "Document": {
        "url": _text("Where the document is (http(s), data: or storage URL)", required=True),
        "public_url": _text("A public URL of the document"),
        "mime_type": _text("The document's MIME type"),
        "filename": _text("The document's file name"),
        "title": _text("The document's title"),
        "snippet": _text("A snippet of the document"),
    },
    "Html": {"inner_html": _text("The HTML", required=True), "css_class": _text("A CSS class")},
    "TextAndImages": {
        "text": _concept("Text", "The text"),
        "images": _field(FieldType.LIST, "The images", item_type="concept", item_concept_ref="Image"),
        "raw_html": _text("The raw HTML"),
    },
    "Page": {
        "text_and_images": _concept("TextAndImages", "The page's text and images", required=True),
        "page_view": _concept("Image", "A rendering of the whole page"),
    },
    "JSON": {
        "json_obj": _field(
            FieldType.DICT, "The JSON object", required=True, key_type="text", value_type="any"
        )
    },
    "SearchResult": {
        "answer": _text("The answer", required=True),
        "sources": _field(FieldType.LIST, "The sources", item_type="concept", item_concept_ref="Document"),
    },
}

# Natives without a structure of their own.
SHAPELESS_NATIVES = frozenset({"Dynamic", "Anything", "Composite"})

NATIVE_CODES = frozenset(NATIVE_STRUCTURES) | SHAPELESS_NATIVES

# Native refinements: Markdown refines Text (accepted where Text is wanted, not the reverse).
NATIVE_REFINES: dict[str, str] = {"Markdown": "Text"}

# Natives that a binding treats as a leaf: one field holding the whole value (mthds.md §2.11).
LEAF_NATIVES = frozenset(code for code, fields in NATIVE_STRUCTURES.items() if len(fields) == 1)

NATIVE_DESCRIPTIONS: dict[str, str] = {
    "Text": "A text",
    "Markdown": "A text in Markdown",
    "Number": "A number",
    "YesNo": "A yes/no verdict",
    "Choice": "A choice among options",
    "Rating": "A rating on a scale of levels",
    "Date": "A date, with an optional time",
    "Time": "A time of day",
    "Image": "An image",
    "Document": "A document",
    "Html": "An HTML fragment",
    "TextAndImages": "A text with images",
    "Page": "A page of a document, its text and images and a view of it",
    "JSON": "A JSON object",
    "SearchResult": "The answer of a search with its sources",
    "Dynamic": "A concept chosen at run time",
    "Anything": "Any content",
    "Composite": "The combined outputs of parallel branches",
}
