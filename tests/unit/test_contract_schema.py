"""The `json_schema` members of `pipe_io_contracts` (shared/language/contract_schema.py), over a method that
reaches every kind of field, refinement, multiplicity and native.

The expected schemas were checked against pipelex-api 0.92.2's `/v1/pipe-io` answer for these two bundles
(`all_pipes`): byte-identical, member order included, which is why comparisons go through `json.dumps`.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.language.content_schema import concept_json_schema
from shared.language.contract_schema import pydantic_order
from shared.language.model_deck import builtin_deck
from shared.language.report import BundleSource, ValidationReport
from shared.language.validator import validate_sources

# Every pipe is a signature: the contracts are all these tests need, and no model is involved.
SHOP_BUNDLE = """domain = "shop"
main_pipe = "take_order"

[concept]
Note = "A short note"
Photo = { description = "A photo of the goods", refines = "Image" }
Remark = { description = "A note refining a note", refines = "Note" }

[concept.Line]
description = "An order line"

[concept.Line.structure]
sku = "The stock keeping unit"
quantity = { type = "integer", description = "How many", default_value = 1 }

[concept.Order]
description = "An order placed at the counter, described at length so that the class the reference generates for it has its docstring wrapped over two lines of source"

[concept.Order.structure]
due_date = { type = "date", description = "When it is due", default_value = 2026-07-07 }
placed_at = { type = "datetime", description = "When it was placed", default_value = 2026-07-07T09:30:00Z }
pickup = { type = "time", description = "Pickup time" }
channel = { choices = ["counter"], description = "Where it was taken", required = true }
size = { choices = ["small", "large"], description = "The parcel size" }
wrap = { choices = ["paper", "box"], description = "How it is wrapped", default_value = "box" }
total = { type = "number", description = "The total", required = true }
paid = { type = "boolean", description = "Whether it is paid", default_value = false }
tags = { type = "list", item_type = "text", description = "Tags" }
extras = { type = "list", description = "Anything else" }
lines = { type = "list", item_type = "concept", item_concept_ref = "Line", description = "The lines", required = true }
prices = { type = "dict", key_type = "text", value_type = "number", description = "Prices" }
attributes = { type = "dict", key_type = "text", value_type = "any", description = "Attributes", required = true }
note = { type = "concept", concept_ref = "Note", description = "A note", required = true }
remark = { type = "concept", concept_ref = "Remark", description = "A remark" }
photo = { type = "concept", concept_ref = "Photo", description = "A photo" }
gift = { type = "concept", concept_ref = "Anything", description = "A gift", required = true }
wrapping = { type = "concept", concept_ref = "Anything", description = "The wrapping" }
supplier = { type = "concept", concept_ref = "shop.suppliers.Supplier", description = "The supplier" }
default = { type = "text", description = "A field named default", required = true }
remarks = { type = "text", description = "Remarks  written  with  double  spaces,  long  enough  that  the  source  generated  for  the  class  wraps  them  into  two  chunks  joined  by  one  space" }

[pipe.take_order]
description = "Takes an order"
inputs = { order = "Order", notes = "Note[]", pair = "Note[2]", thing = "Anything", things = "Anything[]" }
output = "Order[]"

[pipe.count_lines]
description = "Counts the lines"
inputs = { order = "Order" }
output = "Line[3]"

[pipe.gather]
description = "Gathers anything"
inputs = { note = "Note" }
output = "Anything[]"

[pipe.read_page]
description = "Reads a page"
inputs = { page = "Page", photo = "Photo" }
output = "Text"

[pipe.list_suppliers]
description = "Lists the suppliers"
inputs = { note = "Note" }
output = "shop.suppliers.Supplier[]"
"""

SUPPLIERS_BUNDLE = """domain = "shop.suppliers"

[concept.Supplier]
description = "A supplier"

[concept.Supplier.structure]
name = "The supplier's name"
"""

Schema = dict[str, Any]

TEXT_PROPERTY = {"text": {"description": "The text", "title": "Text", "type": "string"}}

# `shop.Order` as a caller sends it (the `$defs` entry of `shop.Photo` is checked on its own below).
ORDER_SCHEMA: Schema = {
    "$defs": {
        "shop__Line": {
            "description": "An order line",
            "properties": {
                "sku": {"description": "The stock keeping unit", "title": "Sku", "type": "string"},
                "quantity": {"default": 1, "description": "How many", "title": "Quantity", "type": "integer"},
            },
            "required": ["sku"],
            "title": "shop__Line",
            "type": "object",
        },
        "shop__Note": {
            "description": "A short note",
            "properties": {"text": {"description": "The text", "title": "Text", "type": "string"}},
            "required": ["text"],
            "title": "shop__Note",
            "type": "object",
        },
        "shop__Remark": {
            "description": "A note refining a note",
            "properties": {"text": {"description": "The text", "title": "Text", "type": "string"}},
            "required": ["text"],
            "title": "shop__Remark",
            "type": "object",
        },
        "shop_suppliers__Supplier": {
            "description": "A supplier",
            "properties": {"name": {"description": "The supplier's name", "title": "Name", "type": "string"}},
            "required": ["name"],
            "title": "shop·suppliers__Supplier",
            "type": "object",
        },
    },
    "description": "An order placed at the counter, described at length so that the class the reference generates for it has its docstring wrapped over two lines of source",
    "properties": {
        "due_date": {
            "default": "2026-07-07",
            "description": "When it is due",
            "format": "date",
            "title": "Due Date",
            "type": "string",
        },
        "placed_at": {
            "default": "2026-07-07T09:30:00Z",
            "description": "When it was placed",
            "format": "date-time",
            "title": "Placed At",
            "type": "string",
        },
        "pickup": {
            "anyOf": [{"format": "time", "type": "string"}, {"type": "null"}],
            "default": None,
            "description": "Pickup time",
            "title": "Pickup",
        },
        "channel": {
            "const": "counter",
            "description": "Where it was taken",
            "title": "Channel",
            "type": "string",
        },
        "size": {
            "anyOf": [{"enum": ["small", "large"], "type": "string"}, {"type": "null"}],
            "default": None,
            "description": "The parcel size",
            "title": "Size",
        },
        "wrap": {
            "default": "box",
            "description": "How it is wrapped",
            "enum": ["paper", "box"],
            "title": "Wrap",
            "type": "string",
        },
        "total": {"description": "The total", "title": "Total", "type": "number"},
        "paid": {"default": False, "description": "Whether it is paid", "title": "Paid", "type": "boolean"},
        "tags": {
            "anyOf": [{"items": {"type": "string"}, "type": "array"}, {"type": "null"}],
            "default": None,
            "description": "Tags",
            "title": "Tags",
        },
        "extras": {
            "anyOf": [{"items": {}, "type": "array"}, {"type": "null"}],
            "default": None,
            "description": "Anything else",
            "title": "Extras",
        },
        "lines": {
            "description": "The lines",
            "items": {"$ref": "#/$defs/shop__Line"},
            "title": "Lines",
            "type": "array",
        },
        "prices": {
            "anyOf": [{"additionalProperties": {"type": "number"}, "type": "object"}, {"type": "null"}],
            "default": None,
            "description": "Prices",
            "title": "Prices",
        },
        "attributes": {
            "additionalProperties": True,
            "description": "Attributes",
            "title": "Attributes",
            "type": "object",
        },
        "note": {"$ref": "#/$defs/shop__Note", "description": "A note"},
        "remark": {
            "anyOf": [{"$ref": "#/$defs/shop__Remark"}, {"type": "null"}],
            "default": None,
            "description": "A remark",
        },
        "photo": {
            "anyOf": [{"$ref": "#/$defs/shop__Photo"}, {"type": "null"}],
            "default": None,
            "description": "A photo",
        },
        "gift": {"description": "A gift", "title": "Gift"},
        "wrapping": {
            "anyOf": [{}, {"type": "null"}],
            "default": None,
            "description": "The wrapping",
            "title": "Wrapping",
        },
        "supplier": {
            "anyOf": [{"$ref": "#/$defs/shop_suppliers__Supplier"}, {"type": "null"}],
            "default": None,
            "description": "The supplier",
        },
        "default": {"type": "string", "description": "A field named default", "title": "Default"},
        "remarks": {
            "anyOf": [{"type": "string"}, {"type": "null"}],
            "default": None,
            "description": "Remarks  written  with  double  spaces,  long  enough  that  the  source  generated  for  the  class  wraps  them  into two  chunks  joined  by  one  space",
            "title": "Remarks",
        },
    },
    "required": ["channel", "total", "lines", "attributes", "note", "gift", "default"],
    "title": "shop.Order",
    "type": "object",
}


@pytest.fixture(scope="module")
def report() -> ValidationReport:
    sources = [
        BundleSource(path="shop.mthds", text=SHOP_BUNDLE),
        BundleSource(path="suppliers.mthds", text=SUPPLIERS_BUNDLE),
    ]
    verdict = validate_sources(sources, builtin_deck(), allow_signatures=True)
    assert verdict.is_valid, verdict.issues
    return verdict


def schema_of(report: ValidationReport, pipe: str, side: str, name: str | None = None) -> Schema:
    contract = report.pipe_io_contracts[pipe]
    member = contract["output"] if side == "output" else contract["inputs"][name]
    return member["json_schema"]


def same(actual: Any, expected: Any) -> bool:
    """Equal, member order included."""
    return json.dumps(actual, ensure_ascii=False) == json.dumps(expected, ensure_ascii=False)


def test_a_structured_concept_is_its_class_schema_titled_with_the_concept_ref(
    report: ValidationReport,
) -> None:
    schema = dict(schema_of(report, "shop.take_order", "input", "order"))
    defs = dict(schema["$defs"])
    photo = defs.pop("shop__Photo")
    assert same({**schema, "$defs": defs}, ORDER_SCHEMA)
    # The refinement of a native is the native's class under the concept's own class name and docstring.
    assert photo["title"] == "shop__Photo"
    assert photo["description"] == "A photo of the goods"
    assert list(photo["properties"]) == [
        "url", "public_url", "source_prompt", "source_negative_prompt", "caption", "mime_type", "width",
        "height", "filename",
    ]  # fmt: skip
    assert same(
        photo["properties"]["width"],
        {
            "anyOf": [{"exclusiveMinimum": 0, "type": "integer"}, {"type": "null"}],
            "default": None,
            "description": "The width of the image, in pixels",
            "title": "Width",
        },
    )
    assert photo["required"] == ["url"]


def test_plural_inputs_are_arrays_of_the_single_schema(report: ValidationReport) -> None:
    note = {
        "description": "A short note",
        "properties": TEXT_PROPERTY,
        "required": ["text"],
        "title": "shop.Note",
        "type": "object",
    }
    assert same(schema_of(report, "shop.take_order", "input", "notes"), {"type": "array", "items": note})
    assert same(
        schema_of(report, "shop.take_order", "input", "pair"),
        {"type": "array", "items": note, "minItems": 2, "maxItems": 2},
    )


def test_plural_outputs_are_the_list_content_envelope(report: ValidationReport) -> None:
    line = {
        "description": "An order line",
        "properties": {
            "sku": {"description": "The stock keeping unit", "title": "Sku", "type": "string"},
            "quantity": {"default": 1, "description": "How many", "title": "Quantity", "type": "integer"},
        },
        "required": ["sku"],
        "title": "shop__Line",
        "type": "object",
    }
    assert same(
        schema_of(report, "shop.count_lines", "output"),
        {
            "$defs": {"shop__Line": line},
            "properties": {
                "items": {
                    "items": {"$ref": "#/$defs/shop__Line"},
                    "title": "Items",
                    "type": "array",
                    "minItems": 3,
                    "maxItems": 3,
                }
            },
            "required": ["items"],
            "title": "ListContent[shop__Line]",
            "type": "object",
        },
    )


def test_a_dotted_domain_keys_its_class_as_pydantic_does(report: ValidationReport) -> None:
    supplier = {
        "description": "A supplier",
        "properties": {"name": {"description": "The supplier's name", "title": "Name", "type": "string"}},
        "required": ["name"],
        "title": "shop·suppliers__Supplier",
        "type": "object",
    }
    assert same(
        schema_of(report, "shop.list_suppliers", "output"),
        {
            "$defs": {"shop_suppliers__Supplier": supplier},
            "properties": {
                "items": {
                    "items": {"$ref": "#/$defs/shop_suppliers__Supplier"},
                    "title": "Items",
                    "type": "array",
                }
            },
            "required": ["items"],
            "title": "ListContent[shop·suppliers__Supplier]",
            "type": "object",
        },
    )


def test_anything_has_no_class(report: ValidationReport) -> None:
    anything = {"title": "native.Anything", "description": "Anything", "not": {"type": ["array", "null"]}}
    assert same(schema_of(report, "shop.take_order", "input", "thing"), anything)
    assert same(schema_of(report, "shop.take_order", "input", "things"), {"type": "array", "items": anything})
    assert same(
        schema_of(report, "shop.gather", "output"),
        {
            "$defs": {"StuffContent": {"properties": {}, "title": "StuffContent", "type": "object"}},
            "properties": {
                "items": {"items": {"$ref": "#/$defs/StuffContent"}, "title": "Items", "type": "array"}
            },
            "required": ["items"],
            "title": "ListContent",
            "type": "object",
        },
    )


def test_natives_state_the_pinned_words_and_their_classes(report: ValidationReport) -> None:
    assert same(
        schema_of(report, "shop.read_page", "output"),
        {
            "description": "A text",
            "properties": TEXT_PROPERTY,
            "required": ["text"],
            "title": "native.Text",
            "type": "object",
        },
    )
    page = schema_of(report, "shop.read_page", "input", "page")
    assert list(page["$defs"]) == ["ImageContent", "TextAndImagesContent", "TextContent"]
    assert "description" not in page["$defs"]["TextAndImagesContent"]  # its class has no docstring
    assert page["$defs"]["TextContent"]["description"] == "A text"
    assert page["title"] == "native.Page"
    assert page["description"] == (
        "The content of a page of a document, comprising text and linked images and an optional page view image"
    )
    assert same(
        page["properties"]["text_and_images"],
        {
            "$ref": "#/$defs/TextAndImagesContent",
            "description": "The text and images content extracted from the page",
        },
    )


def test_long_texts_read_as_the_generated_source_states_them(report: ValidationReport) -> None:
    order_class = schema_of(report, "shop.take_order", "output")["$defs"]["shop__Order"]
    # A docstring over 140 characters was wrapped at 120; pydantic reads the lines back.
    assert order_class["description"] == (
        "An order placed at the counter, described at length so that the class the reference generates for it "
        "has its docstring\nwrapped over two lines of source"
    )
    # A description whose literal is over 120 characters was cut into chunks rejoined by one space.
    assert order_class["properties"]["remarks"]["description"] == (
        "Remarks  written  with  double  spaces,  long  enough  that  the  source  generated  for  the  class  "
        "wraps  them  into two  chunks  joined  by  one  space"
    )
    # The concept's own description is stated as authored at the top.
    assert schema_of(report, "shop.take_order", "input", "order")["description"].endswith(
        "has its docstring wrapped over two lines of source"
    )


def test_pydantic_order_sorts_keys_but_under_properties_and_default() -> None:
    ordered = pydantic_order(
        {
            "type": "object",
            "properties": {"b": {"type": "string", "title": "B"}, "a": {}},
            "default": {"z": 1, "a": 2},
        }
    )
    assert same(
        ordered,
        {
            "default": {"z": 1, "a": 2},
            "properties": {"b": {"title": "B", "type": "string"}, "a": {}},
            "type": "object",
        },
    )


def test_content_schema_keeps_its_closed_shape(report: ValidationReport) -> None:
    # Structured output, mock inputs and dry runs read `concept_json_schema`, which this change leaves alone.
    assert report.library is not None
    schema = concept_json_schema(report.library, "shop.Line")
    assert schema["title"] == "Line"
    assert schema["additionalProperties"] is False
