"""The OpenAPI `requestBody` of a route that parses its body from raw bytes.

Those routes read JSON whatever the Content-Type (api/request_body.py), so FastAPI cannot infer the body
from the signature: the document gets it from the request model. Nested models are inlined, since a
pydantic `#/$defs/...` reference would not resolve inside the OpenAPI document (ReDoc stops on it).
"""

from __future__ import annotations

from typing import Any, cast

from pydantic import BaseModel

from api.method_source import SOURCE_FIELDS


def request_body(model: type[BaseModel], *, by_alias: bool = True) -> dict[str, Any]:
    """`{"required": true, "content": {"application/json": {"schema": ...}}}` for `model`."""
    schema = model.model_json_schema(by_alias=by_alias)
    definitions: dict[str, Any] = schema.pop("$defs", {})
    schema = _inlined(schema, definitions)
    if set(SOURCE_FIELDS) <= set(schema.get("properties", {})):
        schema["oneOf"] = _one_method_source(schema["properties"])
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _one_method_source(properties: dict[str, Any]) -> list[dict[str, Any]]:
    """Exactly one of the method sources, given a value (null is as absent): §4.5 step 3, api/method_source.py.

    Each arm requires one source with a non-null value; with two sources given, two arms match and
    `oneOf` fails, as the service refuses them (422 naming the later one).
    """
    arms: list[dict[str, Any]] = []
    for name in SOURCE_FIELDS:
        given = [
            arm for arm in properties[name].get("anyOf", [properties[name]]) if arm.get("type") != "null"
        ]
        arms.append(
            {"required": [name], "properties": {name: given[0] if len(given) == 1 else {"anyOf": given}}}
        )
    return arms


def _inlined(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        members = cast(dict[str, Any], node)
        reference = members.get("$ref")
        if isinstance(reference, str) and reference.startswith("#/$defs/"):
            return _inlined(definitions[reference.removeprefix("#/$defs/")], definitions)
        return {key: _inlined(value, definitions) for key, value in members.items()}
    if isinstance(node, list):
        return [_inlined(item, definitions) for item in cast(list[Any], node)]
    return node
