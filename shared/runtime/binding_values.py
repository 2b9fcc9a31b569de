"""Walking a dotted path through stuff contents at run time (binding steps, dotted `batch_over`,
construct `from`). Pure.

The static derivation (`shared.language.bindings`) decides the concept; this module finds the values.
Crossing a list applies the rest of the path to every item and flattens, dropping items that hold nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, cast

from shared.language.natives import NATIVE_DOMAIN
from shared.runtime.json_values import as_list, as_mapping

MISSING: Final = object()

# The content field a native leaf concept wraps its value in (`{"number": 9.0}`).
LEAF_FIELD: Final = {
    f"{NATIVE_DOMAIN}.Text": "text",
    f"{NATIVE_DOMAIN}.Markdown": "text",
    f"{NATIVE_DOMAIN}.Number": "number",
    f"{NATIVE_DOMAIN}.YesNo": "yes_no",
    f"{NATIVE_DOMAIN}.Date": "date",
    f"{NATIVE_DOMAIN}.Time": "time",
    f"{NATIVE_DOMAIN}.JSON": "json_obj",
}


# The native concept a value reached without a declared one stands for.
_NATIVE_OF_PYTHON: Final[dict[type, str]] = {
    str: "Text",
    bool: "YesNo",
    int: "Number",
    float: "Number",
    dict: "JSON",
}


@dataclass(frozen=True, slots=True)
class Bound:
    """What a binding path reached, as the parts of the stuff it makes; when it reached nothing, `empty`
    names the shortest part of the path that held nothing (and the other fields are unset)."""

    concept: str
    content: Any
    is_list: bool
    empty: str | None = None


@dataclass(frozen=True, slots=True)
class Reached:
    """What a path reached: one value (None when nothing) or, after crossing a list, the flattened items."""

    value: Any
    is_list: bool


def walk_values(content: Any, is_list: bool, segments: list[str]) -> Reached:
    """Follow `segments` from a stuff's content (`{"items": [...]}` when `is_list`)."""
    if is_list:
        fields = as_mapping(content)
        items = as_list(fields.get("items")) if fields is not None else None
        return Reached(_flatten([_walk(item, segments) for item in items or []]), True)
    return _walk_single(content, segments)


def _walk_single(value: Any, segments: list[str]) -> Reached:
    current = value
    for index, segment in enumerate(segments):
        if current is None:
            return Reached(None, False)
        if isinstance(current, list):
            rest = segments[index:]
            return Reached(_flatten([_walk(item, rest) for item in cast("list[Any]", current)]), True)
        current = cast("Mapping[str, Any]", current).get(segment) if isinstance(current, Mapping) else None
    return Reached(current, isinstance(current, list))


def _walk(value: Any, segments: list[str]) -> Any:
    reached = _walk_single(value, segments)
    return reached.value


def _flatten(values: list[Any]) -> list[Any]:
    flat: list[Any] = []
    for value in values:
        if value is None:
            continue
        if isinstance(value, list):
            flat.extend(item for item in cast("list[Any]", value) if item is not None)
        else:
            flat.append(value)
    return flat


def as_content(concept: str, value: Any) -> Any:
    """A reached value as the content of `concept`: native leaves wrap it, structures are the value."""
    field = LEAF_FIELD.get(concept)
    fields = as_mapping(value)
    if field is None or (fields is not None and field in fields):
        return value
    return {field: value}


def natural_value(concept_base: str, content: Any) -> Any:
    """What `{ from = "x" }` yields for a whole native stuff: its value, not its wrapper (mthds.md §2.3)."""
    field = LEAF_FIELD.get(f"{NATIVE_DOMAIN}.{concept_base}")
    if field is not None and isinstance(content, Mapping):
        return cast("Mapping[str, Any]", content).get(field)
    return content


def first_empty_path(content: Any, root: str, segments: list[str]) -> str:
    """The shortest prefix of `root.segments` that holds nothing (for absence reasons)."""
    current = content
    for depth, segment in enumerate(segments, 1):
        fields = as_mapping(current)
        current = fields.get(segment) if fields is not None else None
        if current is None:
            return ".".join([root, *segments[:depth]])
    return ".".join([root, *segments])


def bind_content(
    content: Any, is_list: bool, root: str, segments: list[str], concept: str | None, to_list: bool
) -> Bound:
    """The stuff a binding `root.segments` makes from `root`'s content: `concept` and `to_list` are what
    the static walk derived (`shared.language.bindings`; None when it could not tell)."""
    reached = walk_values(content, is_list, segments)
    if reached.is_list or to_list:
        items = as_list(reached.value) or []
        item_concept = concept or guess_concept(items[0] if items else "")
        return Bound(item_concept, {"items": [as_content(item_concept, item) for item in items]}, True)
    if reached.value is None:
        return Bound("", None, False, empty=first_empty_path(content, root, segments))
    value_concept = concept or guess_concept(reached.value)
    return Bound(value_concept, as_content(value_concept, reached.value), False)


def guess_concept(value: Any) -> str:
    """The native concept of a value whose concept nothing declared."""
    kind: type[Any] = type(cast("object", value))
    return f"{NATIVE_DOMAIN}.{_NATIVE_OF_PYTHON.get(kind, 'Anything')}"
