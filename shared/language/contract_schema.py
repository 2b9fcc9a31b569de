"""The `json_schema` members of `pipe_io_contracts`, in the reference's shape. Pure.

The reference (pipelex 0.92.2) states them with pydantic's `model_json_schema()` of each concept's
content class (`content_classes`). This module writes the same JSON by pydantic's rules, without
building a class:

- a field's `title` is its name title-cased (`due_date` → `Due Date`), except a field holding a class,
  which is a `$ref` into the top-level `$defs`, where every class reached is stated once (keyed by its
  name, `·` and other characters pydantic keeps out of keys made `_`);
- a field neither required nor defaulted is `anyOf [value, {"type": "null"}]` with `"default": null`;
  a defaulted one states its `default`; choices are a `const` (one) or an `enum`; keys are sorted, but
  under `properties` and `default`;
- one value's schema is its class's, `title` set to the concept ref and `description` to the concept's
  (the pinned one for a native); `native.Anything` has no class: only those two and a refusal of arrays
  and null. A plural input is `{"type": "array", "items": ...}`, bounded when its count is fixed; a
  plural output is the `ListContent[...]` envelope a run delivers (`items`, bounded there).

`content_schema` keeps its own closed shape (`additionalProperties: false`), which structured output,
mock inputs and dry runs need; only the contracts state this one.
"""

from __future__ import annotations

import datetime
from typing import Any

from shared.language.concept_spec import ConceptSpec, Multiplicity
from shared.language.content_classes import (
    NATIVE_CLASSES,
    ClassField,
    ContentClass,
    Holding,
    LibraryClasses,
    Schema,
    class_ref,
    def_key,
)
from shared.language.library import Library
from shared.language.pinned_natives import PINNED_DESCRIPTIONS

_NULL: Schema = {"type": "null"}


class ContractSchemas:
    """The contract schemas of one library: each class and each concept's schema is stated once, and
    shared by every pipe naming it (read-only)."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self.classes = LibraryClasses(library)
        self._singles: dict[str, Schema] = {}
        self._bodies: dict[str, Schema] = {}

    def input_schema(self, ref: str | None, spec: ConceptSpec) -> Schema:
        """What a caller sends for an input: the concept's schema, or an array of them when plural."""
        if ref is None or ref not in self.library.concepts:
            return {}
        single = self.single_schema(ref)
        if spec.multiplicity is Multiplicity.SINGLE:
            return single
        array: Schema = {"type": "array", "items": single}
        if spec.multiplicity is Multiplicity.FIXED:
            array |= {"minItems": spec.count, "maxItems": spec.count}
        return array

    def output_schema(self, ref: str | None, spec: ConceptSpec) -> Schema:
        """What a run delivers: the concept's schema, or the `ListContent` envelope when plural."""
        if ref is None or ref not in self.library.concepts:
            return {}
        if spec.multiplicity is Multiplicity.SINGLE:
            return self.single_schema(ref)
        content = self.classes.class_of(ref)
        if content is None:  # the envelope, unparametrized: items no schema constrains (and no bounds)
            return _open_list_content()
        elements: Schema = {"items": class_ref(content.name), "title": "Items", "type": "array"}
        if spec.multiplicity is Multiplicity.FIXED:
            elements |= {"minItems": spec.count, "maxItems": spec.count}
        return {
            "$defs": self._defs({content.name: ref, **self.classes.reached(ref)}),
            "properties": {"items": elements},
            "required": ["items"],
            "title": f"ListContent[{content.name}]",
            "type": "object",
        }

    def single_schema(self, ref: str) -> Schema:
        """One value of the concept: its class's schema titled with the concept ref and description."""
        cached = self._singles.get(ref)
        if cached is not None:
            return cached
        concept = self.library.concepts[ref]
        native = concept.is_native
        description = PINNED_DESCRIPTIONS.get(concept.code, concept.code) if native else concept.description
        content = self.classes.class_of(ref)
        if content is None:
            schema: Schema = {"title": ref, "description": description, "not": {"type": ["array", "null"]}}
        else:
            reached = self.classes.reached(ref)
            if content.name in reached:  # a class reached from itself is stated under `$defs` only
                schema = {"$defs": self._defs(reached), **class_ref(content.name)}
            else:
                schema = {"$defs": self._defs(reached)} if reached else {}
                schema |= self._body(content)
            schema["title"] = ref  # kept in place; a description the class lacks comes last
            schema["description"] = description
        self._singles[ref] = schema
        return schema

    def _defs(self, classes: dict[str, str]) -> Schema:
        defs: Schema = {}
        for key, name in sorted((def_key(name), name) for name in classes):
            content = self.classes.class_of(classes[name])
            if content is not None:
                defs[key] = self._body(content)
        return defs

    def _body(self, content: ContentClass) -> Schema:
        body = NATIVE_BODIES.get(content.name) or self._bodies.get(content.name)
        if body is None:
            body = self._bodies[content.name] = class_body(content)
        return body


def class_body(content: ContentClass) -> Schema:
    """A class's own schema (the classes it holds as `$ref`s), keys in pydantic's order."""
    schema: Schema = {"properties": {field.name: _field_schema(field) for field in content.fields}}
    required = [field.name for field in content.fields if field.holding is Holding.REQUIRED]
    if required:
        schema["required"] = required
    schema |= {"title": content.name, "type": "object", **dict(content.members)}
    if content.description:
        schema["description"] = content.description
    return pydantic_order(schema)


def _field_schema(field: ClassField) -> Schema:
    if field.holding is Holding.NULLABLE:
        schema: Schema = {"anyOf": [field.value, _NULL], "default": None}
    elif field.holding is Holding.DEFAULTED:
        schema = {**field.value, "default": _json_default(field.default)}
    else:
        schema = dict(field.value)
    schema["description"] = field.description
    if "$ref" not in field.value:  # a field holding a class takes its title from the class
        schema["title"] = field.name.title().replace("_", " ").strip()  # pydantic's title of a name
    return schema


def pydantic_order(value: Any, parent_key: str | None = None) -> Any:
    """`value` with its keys sorted at every level but under `properties` and `default` (pydantic's order)."""
    if isinstance(value, dict):
        members: dict[str, Any] = value  # pyright: ignore[reportUnknownVariableType]
        keys = list(members) if parent_key in ("properties", "default") else sorted(members)
        return {key: pydantic_order(members[key], key) for key in keys}
    if isinstance(value, list):
        return [pydantic_order(item, parent_key) for item in value]  # pyright: ignore[reportUnknownVariableType]
    return value


def _json_default(value: Any) -> Any:
    """A default value as pydantic writes it in a schema (temporal values in ISO 8601, UTC as `Z`)."""
    if isinstance(value, datetime.datetime | datetime.time):
        text = value.isoformat()
        return text.removesuffix("+00:00") + "Z" if value.utcoffset() == datetime.timedelta(0) else text
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_json_default(item) for item in value]  # pyright: ignore[reportUnknownVariableType]
    if isinstance(value, dict):
        return {key: _json_default(item) for key, item in value.items()}  # pyright: ignore[reportUnknownVariableType]
    return value


def _open_list_content() -> Schema:
    """The schema of the bare `ListContent`: items of the base content class, which states no field."""
    return {
        "$defs": {"StuffContent": {"properties": {}, "title": "StuffContent", "type": "object"}},
        "properties": {"items": {"items": class_ref("StuffContent"), "title": "Items", "type": "array"}},
        "required": ["items"],
        "title": "ListContent",
        "type": "object",
    }


# The natives' class schemas never change: stated once per process.
NATIVE_BODIES: dict[str, Schema] = {content.name: class_body(content) for content in NATIVE_CLASSES.values()}
