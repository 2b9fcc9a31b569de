"""Mock values generated from a JSON Schema, deterministic for a given seed (dry runs). Pure.

No `random`: choices come from a hash of the seed and the value's path, so a dry run inside a
Temporal workflow replays identically and two runs with the same seed agree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Final, cast

_MAX_DEPTH: Final = 8
_FORMATS: Final = {"date": "2026-01-01", "date-time": "2026-01-01T09:00:00Z", "time": "09:00:00"}


def pick(seed: str, path: str, modulo: int) -> int:
    """A stable number in [0, modulo) for this seed and path."""
    digest = hashlib.blake2b(f"{seed}/{path}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % modulo


def mock_from_schema(schema: Mapping[str, Any], seed: str, *, path: str = "$", list_length: int = 2) -> Any:
    """A value valid for `schema` (the subset `content_schema` emits: objects, scalars, arrays, enums)."""
    return _mock(schema, seed, path, list_length, 0)


def _mock(schema: Mapping[str, Any], seed: str, path: str, list_length: int, depth: int) -> Any:
    if "enum" in schema:
        options = cast("list[Any]", schema["enum"])
        return options[pick(seed, path, len(options))] if options else None
    if "anyOf" in schema:
        for option in cast("list[Mapping[str, Any]]", schema["anyOf"]):
            if option.get("type") != "null":
                return _mock(option, seed, path, list_length, depth)
        return None
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        if depth > _MAX_DEPTH:
            return {}
        properties = cast("Mapping[str, Mapping[str, Any]]", schema.get("properties", {}))
        return {
            name: _mock(sub, seed, f"{path}.{name}", list_length, depth + 1)
            for name, sub in properties.items()
        }
    if kind == "array":
        if depth > _MAX_DEPTH:
            return []
        items = cast("Mapping[str, Any]", schema.get("items", {}))
        return [
            _mock(items, seed, f"{path}[{index}]", list_length, depth + 1) for index in range(list_length)
        ]
    if kind == "string":
        return _FORMATS.get(str(schema.get("format")), f"DRY RUN: {path.rpartition('.')[2] or 'text'}")
    if kind == "integer":
        return pick(seed, path, 10) + 1
    if kind == "number":
        return float(pick(seed, path, 1000)) / 10 + 0.5
    if kind == "boolean":
        return pick(seed, path, 2) == 1
    return {}
