"""Methods the crate and codegen tests share: two domains holding every kind of structure field, names
that collide or shadow, and the valid entries of the reference corpus."""

from __future__ import annotations

import pytest

from shared.language.report import BundleSource
from tests.conformance.corpus import CorpusEntry, CorpusUnavailableError, Validity, fetch_wheel, load_entries

# Every field kind a structure may declare: scalars, dates and times, choices (required and with a
# default), lists of scalars and of concepts (explicit and named directly by `item_type`), a dict, a
# concept of another domain, a description-only concept, optional fields with and without defaults;
# a refinement of a native and of a structured concept; a code (`Item`) declared in both domains.
SHOP = '''domain = "shop"
description = "A shop's orders"
main_pipe = "summarize"

[concept]
Note = "A free note"

[concept.Item]
description = "A line of an order"

[concept.Item.structure]
label = { type = "text", description = "What was bought", required = true }
quantity = { type = "integer", description = "How many", default_value = 1 }
unit_price = { type = "number", description = "Price per unit", required = true }

[concept.Order]
description = """An order, with "quotes" and \\\\ in its description"""

[concept.Order.structure]
reference = "The order's reference"
placed_on = { type = "date", description = "When it was placed", required = true }
placed_at = { type = "datetime", description = "Exact time" }
pickup = { type = "time", description = "Pickup time" }
paid = { type = "boolean", description = "Whether it is paid", default_value = false }
status = { choices = ["open", "shipped", "closed"], description = "Where it stands", default_value = "open" }
channel = { choices = ["web", "store"], description = "Where it was placed", required = true }
items = { type = "list", item_type = "concept", item_concept_ref = "Item", description = "The lines", required = true }
spares = { type = "list", item_type = "Item", description = "Spare lines, their concept named by item_type" }
tags = { type = "list", item_type = "text", description = "Free tags" }
extras = { type = "dict", key_type = "text", value_type = "number", description = "Extra costs" }
buyer = { type = "concept", concept_ref = "crm.Customer", description = "Who bought", required = true }
note = { type = "concept", concept_ref = "Note", description = "A note" }
scores = { type = "list", item_type = "number", description = "Scores" }

[concept.Summary]
description = "A summary"
refines = "Text"

[concept.BigOrder]
description = "An order above a threshold"
refines = "Order"

[pipe.summarize]
type = "PipeLLM"
description = "Summarizes an order"
inputs = { order = "Order", customer = "crm.Customer" }
output = "Summary"
prompt = """
Summarize for $customer:

@order
"""

[pipe.list_items]
type = "PipeLLM"
description = "Lists the items of a big order"
inputs = { order = "BigOrder" }
output = "Item[]"
prompt = """
List the items of:

@order
"""
'''

CRM = '''domain = "crm"
description = "Customers"

[concept.Customer]
description = "A customer"

[concept.Customer.structure]
name = { type = "text", description = "The name", required = true }
email = { type = "text", description = "The email" }

[concept.Item]
description = "A CRM item, the same code as shop.Item"

[concept.Item.structure]
code = { type = "text", description = "The code", required = true }

[pipe.extract_customer]
type = "PipeLLM"
description = "Extracts a customer from a page"
inputs = { text = "Text", page = "Page" }
output = "Customer"
prompt = """
Extract the customer from $text.

@page
"""
'''

SHOP_SOURCES = (BundleSource(path="shop.mthds", text=SHOP), BundleSource(path="crm/crm.mthds", text=CRM))


# Names a generated module needs for itself or Python forbids, fields shadowing the names their
# annotations use, a field named like a class, a docstring full of quotes, two domains spelled alike.
TRICKY = '''domain = "trees.forest"
description = "Tricky names"

[concept.Node]
description = """A node.
It holds \\"\\"\\"quotes\\"\\"\\" and ends with one: \\""""

[concept.Node.structure]
label = { type = "text", description = "The label */ ends a comment", required = true }
date = { type = "date", description = "A field named date", default_value = 2024-01-02 }
time = { type = "time", description = "A field named time" }
str = { type = "integer", description = "A field named str" }
Field = { type = "text", description = "A field named Field" }
Leaf = { type = "concept", concept_ref = "Leaf", description = "A field named like a class" }
ratios = { type = "dict", key_type = "text", value_type = "number", description = "Ratios", default_value = { a = 1.5 } }
kinds = { type = "list", item_type = "text", description = "Kinds", default_value = ["x", "y"] }

[concept.Leaf]
description = "A leaf"

[concept.Leaf.structure]
weight = { type = "number", description = "Weight", required = true }

[concept.Field]
description = "A concept named Field"

[concept.Field.structure]
value = { type = "text", description = "Value", required = true }

[concept.BaseModel]
description = "A concept named BaseModel"
refines = "Leaf"

[pipe.grow]
type = "PipeLLM"
description = "Grows a node"
inputs = { seed = "Text", leaf = "Leaf", field = "Field", model = "BaseModel" }
output = "Node"
prompt = """
Grow a node from $seed, with:

@leaf

@field

@model
"""
'''
TRICKY_TWIN = """domain = "trees_forest"

[concept.Node]
description = "Another node, its domain spelled like trees.forest"

[concept.Node.structure]
name = { type = "text", description = "Name", required = true }
"""
TRICKY_SOURCES = (
    BundleSource(path="tree.mthds", text=TRICKY),
    BundleSource(path="twin.mthds", text=TRICKY_TWIN),
)


def valid_corpus_entries() -> list[CorpusEntry]:
    """The valid entries of the pinned reference corpus; skips the calling test when it cannot be fetched."""
    try:
        entries = load_entries(fetch_wheel())
    except CorpusUnavailableError as exc:
        pytest.skip(str(exc))
    return [entry for entry in entries if entry.manifest.validity is Validity.VALID]
