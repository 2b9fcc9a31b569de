"""Deterministic mock contents for dry runs, built from a concept's structure. Pure.

Values are derived from field names, not from randomness, so a dry run inside a Temporal workflow
replays identically; `X[]` inputs get two items, as in the reference.
"""

from __future__ import annotations

from typing import Any

from shared.language.blueprint import FieldBlueprint, FieldType
from shared.language.library import Library

_SCALARS: dict[FieldType, Any] = {
    FieldType.INTEGER: 1,
    FieldType.NUMBER: 1.0,
    FieldType.BOOLEAN: True,
    FieldType.DATE: "2026-01-01",
    FieldType.DATETIME: "2026-01-01T09:00:00+00:00",
    FieldType.TIME: "09:00:00",
}
_FIELD_TYPES = {kind.value: kind for kind in FieldType}
_MAX_DEPTH = 6
LIST_LENGTH = 2


def mock_content(library: Library, ref: str, *, depth: int = 0) -> dict[str, Any]:
    """A content object valid for concept `ref` (a Text stand-in when it has no structure)."""
    structure = library.structure_of(ref)
    concept = library.concepts.get(ref)
    if structure is None or concept is None or depth > _MAX_DEPTH:
        return {"text": f"DRY RUN: {ref.rpartition('.')[2]}"}
    if ref == "native.Image" or ref == "native.Document":
        return {"url": f"https://example.invalid/dry-run/{ref.rpartition('.')[2].lower()}"}
    return {
        name: _field_value(library, name, field, concept.domain, depth) for name, field in structure.items()
    }


def mock_list(library: Library, ref: str, count: int = LIST_LENGTH) -> dict[str, Any]:
    return {"items": [mock_content(library, ref) for _ in range(count)]}


def _field_value(library: Library, name: str, field: FieldBlueprint, domain: str, depth: int) -> Any:
    if field.choices:
        return field.choices[0]
    kind = field.effective_type
    if kind is FieldType.TEXT:
        return f"DRY RUN: {name}"
    if kind in _SCALARS:
        return _SCALARS[kind]
    if kind is FieldType.DICT:
        return {"key": f"DRY RUN: {name}"}
    if kind is FieldType.CONCEPT:
        target = library.resolve_concept(field.concept_ref or "", domain)
        return mock_content(library, target, depth=depth + 1) if target else {}
    item = field.item_type or "text"
    item_kind = _FIELD_TYPES.get(item)
    if item_kind is FieldType.TEXT:
        return [f"DRY RUN: {name} {index}" for index in range(1, LIST_LENGTH + 1)]
    if item_kind is not None and item_kind in _SCALARS:
        return [_SCALARS[item_kind]] * LIST_LENGTH
    reference = field.item_concept_ref if item == "concept" else item
    target = library.resolve_concept(reference, domain) if reference else None
    return [mock_content(library, target, depth=depth + 1) for _ in range(LIST_LENGTH)] if target else []
