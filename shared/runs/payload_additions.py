"""Fields added to a workflow payload after workers that predate them were deployed. Pure.

Payloads refuse unknown fields (`extra="forbid"`), and in a rolling deploy an old worker may read what a
new one wrote: an activity task, an activity's answer, a child workflow's result. A field added later is
therefore left out of the payload while it holds its default, so a payload that does not use it is the
same bytes it always was (recorded histories replay unchanged too); only a run that uses the new feature
needs new workers on both ends.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel


def without_unused(model: BaseModel, data: dict[str, Any], added: Iterable[str]) -> dict[str, Any]:
    """`data` (the model's serialized fields) without each `added` field that holds its default."""
    fields = type(model).model_fields
    for name in added:
        if name in data and getattr(model, name) == fields[name].get_default(call_default_factory=True):
            del data[name]
    return data
