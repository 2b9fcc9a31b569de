"""Methods the crate and codegen tests share: two domains holding every kind of structure field, and
the valid entries of the reference corpus."""

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


def valid_corpus_entries() -> list[CorpusEntry]:
    """The valid entries of the pinned reference corpus; skips the calling test when it cannot be fetched."""
    try:
        entries = load_entries(fetch_wheel())
    except CorpusUnavailableError as exc:
        pytest.skip(str(exc))
    return [entry for entry in entries if entry.manifest.validity is Validity.VALID]
