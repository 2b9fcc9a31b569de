"""Narrowing JSON-like values (`Any`) to typed mappings and lists without losing the type checker. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast


def as_mapping(value: Any) -> Mapping[str, Any] | None:
    """`value` as a string-keyed mapping, or None when it is not a mapping."""
    return cast("Mapping[str, Any]", value) if isinstance(value, Mapping) else None


def as_list(value: Any) -> list[Any] | None:
    """`value` as a list, or None when it is not a list."""
    return cast("list[Any]", value) if isinstance(value, list) else None
