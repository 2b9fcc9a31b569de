"""Content shapes of concepts as JSON Schema and as pydantic models built at run time. Pure.

Used to describe pipe inputs and outputs (`pipe_io_contracts`), and by later stages to validate
caller inputs and structured model outputs against a concept.
"""

from __future__ import annotations

import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, create_model

from shared.language.blueprint import FieldBlueprint, FieldType
from shared.language.library import Library
from shared.language.natives import NATIVE_DOMAIN

_SCALAR_SCHEMA: dict[FieldType, dict[str, Any]] = {
    FieldType.TEXT: {"type": "string"},
    FieldType.INTEGER: {"type": "integer"},
    FieldType.NUMBER: {"type": "number"},
    FieldType.BOOLEAN: {"type": "boolean"},
    FieldType.DATE: {"type": "string", "format": "date"},
    FieldType.DATETIME: {"type": "string", "format": "date-time"},
    FieldType.TIME: {"type": "string", "format": "time"},
}
_SCALAR_PYTHON: dict[str, Any] = {
    "text": str,
    "str": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "date": datetime.date,
    "datetime": datetime.datetime,
    "time": datetime.time,
    "any": Any,
}
_FIELD_TYPES = {kind.value: kind for kind in FieldType}
_MAX_DEPTH = 8  # structures may refer to each other; deeper levels are left open


def concept_json_schema(library: Library, ref: str, *, depth: int = 0) -> dict[str, Any]:
    """JSON Schema of the content of `ref` (`{}` for shapeless natives such as Anything)."""
    structure = library.structure_of(ref)
    concept = library.concepts.get(ref)
    if structure is None or concept is None or depth > _MAX_DEPTH:
        return {"type": "object"} if ref == f"{NATIVE_DOMAIN}.Composite" else {}
    properties = {
        name: _field_schema(library, field, concept.domain, depth) for name, field in structure.items()
    }
    schema: dict[str, Any] = {
        "type": "object",
        "title": concept.code,
        "description": concept.description,
        "properties": properties,
        "required": [name for name, field in structure.items() if field.required],
        "additionalProperties": False,
    }
    return schema


def _field_schema(library: Library, field: FieldBlueprint, domain: str, depth: int) -> dict[str, Any]:
    kind = field.effective_type
    if field.choices is not None:
        schema: dict[str, Any] = {"type": "string", "enum": list(field.choices)}
    elif kind is FieldType.CONCEPT:
        target = library.resolve_concept(field.concept_ref or "", domain)
        schema = concept_json_schema(library, target, depth=depth + 1) if target else {}
    elif kind is FieldType.LIST:
        schema = {"type": "array", "items": _item_schema(library, field, domain, depth)}
    elif kind is FieldType.DICT:
        value_kind = _FIELD_TYPES.get(field.value_type or "")
        value = _SCALAR_SCHEMA.get(value_kind) if value_kind is not None else None
        schema = {"type": "object", "additionalProperties": value or {}}
    else:
        schema = dict(_SCALAR_SCHEMA[kind])
    schema["description"] = field.description
    if not field.required:
        schema = {"anyOf": [schema, {"type": "null"}], "description": field.description}
        if field.default_value is not None:
            schema["default"] = field.default_value
    return schema


def _item_schema(library: Library, field: FieldBlueprint, domain: str, depth: int) -> dict[str, Any]:
    item = field.item_type or "text"
    kind = _FIELD_TYPES.get(item)
    if kind is not None and kind in _SCALAR_SCHEMA:
        return dict(_SCALAR_SCHEMA[kind])
    reference = field.item_concept_ref if item == "concept" else item
    target = library.resolve_concept(reference, domain) if reference else None
    return concept_json_schema(library, target, depth=depth + 1) if target else {}


def content_model(library: Library, ref: str) -> type[BaseModel]:
    """A pydantic model of the content of `ref`, built from its structure (open dict for shapeless)."""
    return _ModelBuilder(library).build(ref, 0)


class _ModelBuilder:
    def __init__(self, library: Library) -> None:
        self.library = library
        self.built: dict[str, type[BaseModel]] = {}

    def build(self, ref: str, depth: int) -> type[BaseModel]:
        if ref in self.built:
            return self.built[ref]
        structure = self.library.structure_of(ref)
        concept = self.library.concepts.get(ref)
        config = ConfigDict(extra="forbid" if structure is not None else "allow")
        definitions: dict[str, Any] = {}
        if structure is not None and concept is not None and depth <= _MAX_DEPTH:
            for name, field in structure.items():
                python_type = self._python_type(field, concept.domain, depth)
                if field.required:
                    definitions[name] = (python_type, ...)
                else:
                    definitions[name] = (python_type | None, field.default_value)
        code = concept.code if concept is not None else "Content"
        model = create_model(code, __config__=config, **definitions)
        self.built[ref] = model
        return model

    def _python_type(self, field: FieldBlueprint, domain: str, depth: int) -> Any:
        kind = field.effective_type
        if kind is FieldType.CONCEPT:
            target = self.library.resolve_concept(field.concept_ref or "", domain)
            return self.build(target, depth + 1) if target else dict[str, Any]
        if kind is FieldType.LIST:
            item = field.item_type or "text"
            if item in _SCALAR_PYTHON:
                return list[_SCALAR_PYTHON[item]]
            reference = field.item_concept_ref if item == "concept" else item
            target = self.library.resolve_concept(reference, domain) if reference else None
            return list[self.build(target, depth + 1)] if target else list[Any]  # type: ignore[misc]
        if kind is FieldType.DICT:
            return dict[str, _SCALAR_PYTHON.get(field.value_type or "any", Any)]
        return _SCALAR_PYTHON[kind.value]
