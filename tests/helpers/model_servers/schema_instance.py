"""The smallest JSON value valid for a JSON Schema, so the test model servers can answer structured-output
requests: required properties only, one array item, the first enum value, bounds respected.

Pure. Covers what pydantic and the SDKs emit (`$ref` into `$defs`, `anyOf`, `allOf`, `const`, type lists);
`pattern` and other exotic keywords are not honoured.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

FORMATTED_STRINGS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00Z",
    "email": "someone@example.com",
    "uri": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
}
MAX_DEPTH = 32


def minimal_instance(schema: Mapping[str, Any]) -> Any:
    """A value valid for `schema`, whose `$ref`s resolve against `schema` itself."""
    return _instance(schema, schema, 0)


def _instance(schema: Mapping[str, Any], root: Mapping[str, Any], depth: int) -> Any:
    if depth > MAX_DEPTH:
        msg = f"schema nests deeper than {MAX_DEPTH} levels (a recursive $ref with required recursion?)"
        raise ValueError(msg)
    if "$ref" in schema:
        return _instance(_resolve(str(schema["$ref"]), root), root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return cast("list[Any]", schema["enum"])[0]
    for combinator in ("anyOf", "oneOf"):
        if combinator in schema:
            options = cast("list[Mapping[str, Any]]", schema[combinator])
            not_null = [option for option in options if option.get("type") != "null"]
            return _instance((not_null or options)[0], root, depth + 1)
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in cast("list[Mapping[str, Any]]", schema["allOf"]):
            merged.update(_resolve(str(part["$ref"]), root) if "$ref" in part else part)
        return _instance(merged, root, depth + 1)
    return _typed(schema, root, depth)


def _typed(schema: Mapping[str, Any], root: Mapping[str, Any], depth: int) -> Any:
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [str(item) for item in cast("list[Any]", kind)]
        kind = next((item for item in kinds if item != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    if kind == "object":
        properties = cast("Mapping[str, Mapping[str, Any]]", schema.get("properties", {}))
        return {
            name: _instance(properties.get(name, {}), root, depth + 1)
            for name in cast("list[str]", schema.get("required", []))
        }
    if kind == "array":
        count = max(1, int(schema.get("minItems", 1)))
        if "maxItems" in schema:
            count = min(count, int(schema["maxItems"]))
        items = cast("Mapping[str, Any]", schema.get("items", {}))
        return [_instance(items, root, depth + 1) for _ in range(count)]
    if kind in ("number", "integer"):
        return _number(schema, integer=kind == "integer")
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _string(schema)


def _number(schema: Mapping[str, Any], *, integer: bool) -> int | float:
    value = 0.0
    if "minimum" in schema:
        value = max(value, float(schema["minimum"]))
    if "exclusiveMinimum" in schema:
        value = max(value, float(schema["exclusiveMinimum"]) + 1)
    if "maximum" in schema:
        value = min(value, float(schema["maximum"]))
    if "exclusiveMaximum" in schema:
        value = min(value, float(schema["exclusiveMaximum"]) - 1)
    return int(value) if integer or value.is_integer() else value


def _string(schema: Mapping[str, Any]) -> str:
    text = FORMATTED_STRINGS.get(str(schema.get("format", "")), "text")
    wanted = int(schema.get("minLength", 0))
    if len(text) < wanted:
        text += "x" * (wanted - len(text))
    if "maxLength" in schema:
        text = text[: int(schema["maxLength"])]
    return text


def _resolve(ref: str, root: Mapping[str, Any]) -> Mapping[str, Any]:
    if not ref.startswith("#"):
        msg = f"only local $refs are supported, not {ref!r}"
        raise ValueError(msg)
    node: Any = root
    for part in filter(None, ref[1:].split("/")):
        node = cast("Mapping[str, Any]", node)[part.replace("~1", "/").replace("~0", "~")]
    return cast("Mapping[str, Any]", node)
