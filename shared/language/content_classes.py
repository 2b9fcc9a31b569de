"""The content class of each concept, as the reference generates it and pydantic reads it back. Pure.

The reference (pipelex 0.92.2) gives every concept a pydantic content class and states the concept's
JSON Schema from it (`contract_schema`). A structured concept gets a class generated as Python source
from its structure, named `domain__Code` and documented by the concept's description; a refinement gets a
subclass of the refined class that adds no field (a description-only concept refines `TextContent`); a
native has its own hand-written class (`TextContent`...), except Anything, which has none. This module
describes those classes as data, with what the generation does to their texts (long docstrings wrapped
to lines, long field descriptions rejoined from wrapped chunks), and never builds one.
"""

from __future__ import annotations

import inspect
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from shared.language.blueprint import FieldBlueprint, FieldType
from shared.language.library import Library
from shared.language.native_content_classes import (
    CLASSLESS_NATIVES,
    FIELDLESS_NATIVES,
    NATIVE_CLASS_MEMBERS,
    NATIVE_EMPTY_LIST_FIELDS,
    NATIVE_VALUE_SCHEMAS,
    native_class_docstring,
)
from shared.language.natives import NATIVE_DOMAIN
from shared.language.pinned_natives import PINNED_STRUCTURES

Schema = dict[str, Any]
Resolve = Callable[[str, str], str | None]  # (reference, from domain) -> concept ref

_SCALARS: dict[str, Schema] = {
    FieldType.TEXT: {"type": "string"},
    FieldType.NUMBER: {"type": "number"},
    FieldType.INTEGER: {"type": "integer"},
    FieldType.BOOLEAN: {"type": "boolean"},
    FieldType.DATE: {"format": "date", "type": "string"},
    FieldType.DATETIME: {"format": "date-time", "type": "string"},
    FieldType.TIME: {"format": "time", "type": "string"},
}
_NOT_IN_DEF_KEYS = re.compile(r"[^a-zA-Z0-9.\-_]")
# A field description whose string literal is longer than this is wrapped into implicitly joined chunks;
# a docstring longer than the next is wrapped to lines (so the source stays under its line length).
_FIELD_DESCRIPTION_MAX = 120
_DOCSTRING_MAX = 140
_WRAP_WIDTH = 120


class Holding(Enum):
    """How a class field holds its value: which decides `required`, `default` and the null arm."""

    REQUIRED = "required"  # `Field(...)`
    NULLABLE = "nullable"  # `X | None = Field(default=None)`: neither required nor defaulted
    DEFAULTED = "defaulted"  # `Field(default=value)`
    EMPTY_LIST = "empty_list"  # `Field(default_factory=list)`: no default stated


@dataclass(frozen=True, slots=True)
class ClassField:
    """One field of a content class: its value's schema, and the concept whose class the value holds."""

    name: str
    description: str
    value: Schema
    holding: Holding
    default: Any = None
    target: str | None = None


@dataclass(frozen=True, slots=True)
class ContentClass:
    """A content class: its name, its docstring (None: it has none), its fields and other schema members."""

    name: str
    description: str | None
    fields: tuple[ClassField, ...]
    members: tuple[tuple[str, Any], ...] = ()


def class_name(ref: str) -> str | None:
    """The class name of a concept's content (`TextContent`, `domain__Code`); None for Anything."""
    domain, _, code = ref.rpartition(".")
    if domain == NATIVE_DOMAIN:
        return None if code in CLASSLESS_NATIVES else f"{code}Content"
    return f"{domain.replace('.', '·')}__{code}"


def class_ref(name: str) -> Schema:
    """A reference to a class stated under the top-level `$defs`."""
    return {"$ref": f"#/$defs/{def_key(name)}"}


def def_key(name: str) -> str:
    """A class's key under `$defs`: pydantic keeps letters, digits, `-` and `_` of its name (`a·b__C` → `a_b__C`)."""
    return _NOT_IN_DEF_KEYS.sub("_", name).replace(".", "__")


class LibraryClasses:
    """The content classes of one library's concepts, each described once, and the classes each reaches."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self._classes: dict[str, ContentClass | None] = {}
        self._reached: dict[str, dict[str, str]] = {}

    def class_of(self, ref: str) -> ContentClass | None:
        """The content class of the concept `ref` (None: Anything, or no such concept)."""
        if ref in self._classes:
            return self._classes[ref]
        self._classes[ref] = None  # a refinement cycle ends here instead of recursing
        concept = self.library.concepts.get(ref)
        content: ContentClass | None = None
        if concept is not None and concept.is_native:
            content = NATIVE_CLASSES.get(concept.code)
        elif concept is not None:
            name = f"{concept.domain.replace('.', '·')}__{concept.code}"
            description = _docstring(concept.description or f"Generated {name} class")
            if concept.structure is not None:
                fields = tuple(
                    class_field(field_name, field, concept.domain, self.library.resolve_concept)
                    for field_name, field in concept.structure.items()
                )
                content = ContentClass(name, description, fields)
            else:  # a refinement: a subclass of the refined class, adding no field
                parent = self.class_of(concept.refines) if concept.refines else None
                inherited = (parent.fields, parent.members) if parent is not None else ((), ())
                content = ContentClass(name, description, *inherited)
        self._classes[ref] = content
        return content

    def reached(self, ref: str) -> dict[str, str]:
        """Every class reached from the fields of `ref`'s class, by name (itself too when it is reached)."""
        cached = self._reached.get(ref)
        if cached is not None:
            return cached
        reached: dict[str, str] = {}  # class name -> concept ref
        pending = [ref]
        while pending:
            content = self.class_of(pending.pop())
            for field in content.fields if content is not None else ():
                name = class_name(field.target) if field.target is not None else None
                if field.target is not None and name is not None and name not in reached:
                    reached[name] = field.target
                    pending.append(field.target)
        self._reached[ref] = reached
        return reached


# -- fields ------------------------------------------------------------------------------------------


def class_field(name: str, field: FieldBlueprint, domain: str, resolve: Resolve) -> ClassField:
    """A structure field as the generated class holds it."""
    value, target = _value(field, domain, resolve)
    if field.required:
        holding = Holding.REQUIRED
    elif field.default_value is not None:
        holding = Holding.DEFAULTED
    else:
        holding = Holding.NULLABLE
    description = _field_description(field.description)
    return ClassField(name, description, value, holding, field.default_value, target)


def _value(field: FieldBlueprint, domain: str, resolve: Resolve) -> tuple[Schema, str | None]:
    """The field's value schema (choices win over the type), and the concept it holds, if any."""
    if field.choices is not None:
        choices = list(dict.fromkeys(field.choices))
        one = len(choices) == 1
        return ({"const": choices[0]} if one else {"enum": choices}) | {"type": "string"}, None
    kind = field.effective_type
    if kind is FieldType.CONCEPT:
        return _concept_value(field.concept_ref or "", domain, resolve)
    if kind is FieldType.LIST:
        if field.item_type == FieldType.CONCEPT.value and field.item_concept_ref:
            item, target = _concept_value(field.item_concept_ref, domain, resolve)
        else:  # a list naming its item any other way holds any value (`item_type = "Stop"` included)
            item, target = _named_value(field.item_type) or {}, None
        return {"items": item, "type": "array"}, target
    if kind is FieldType.DICT:
        return {"additionalProperties": _named_value(field.value_type) or True, "type": "object"}, None
    return _SCALARS[kind], None


def _concept_value(reference: str, domain: str, resolve: Resolve) -> tuple[Schema, str | None]:
    """A class reference, or any value (`{}`) for Anything."""
    target = resolve(reference, domain)
    name = class_name(target) if target is not None else None
    return ({}, None) if name is None else (class_ref(name), target)


def _named_value(type_name: str | None) -> Schema | None:
    """A list item or dict value named by a type; None when it holds any value."""
    if type_name in _SCALARS:
        return _SCALARS[type_name]
    if type_name == FieldType.LIST.value:
        return {"items": {}, "type": "array"}
    if type_name == FieldType.DICT.value:
        return {"additionalProperties": True, "type": "object"}
    return None


# -- the generated source's texts --------------------------------------------------------------------


def _field_description(description: str) -> str:
    """The description as the generated source states it: a long one is rejoined from wrapped chunks."""
    if _literal_length(description) <= _FIELD_DESCRIPTION_MAX:
        return description
    chunks = textwrap.wrap(description, width=_WRAP_WIDTH, break_long_words=False, break_on_hyphens=False)
    return description if len(chunks) <= 1 else " ".join(chunks)


def _literal_length(text: str) -> int:
    """The length of `text` as a double-quoted Python string literal."""
    literal = repr(text)
    if literal.startswith("'"):
        inner = literal[1:-1].replace("\\'", "'").replace('"', '\\"')
        return len(inner) + 2
    return len(literal)


def _docstring(description: str) -> str:
    """The class docstring as pydantic reads it back: a long one was wrapped to lines."""
    if len(description) > _DOCSTRING_MAX:
        lines = textwrap.wrap(description, width=_WRAP_WIDTH, break_long_words=False, break_on_hyphens=False)
        if lines:
            description = "\n".join(lines)
    return inspect.cleandoc(description)


# -- the native classes ------------------------------------------------------------------------------


def _native_resolve(reference: str, _domain: str) -> str | None:
    return reference if reference.startswith(f"{NATIVE_DOMAIN}.") else f"{NATIVE_DOMAIN}.{reference}"


def _native_class(code: str) -> ContentClass:
    fields: list[ClassField] = []
    for name, pinned in PINNED_STRUCTURES.get(code, {}).items():
        field = class_field(name, pinned, NATIVE_DOMAIN, _native_resolve)
        value = NATIVE_VALUE_SCHEMAS.get((code, name), field.value)
        holding = Holding.EMPTY_LIST if (code, name) in NATIVE_EMPTY_LIST_FIELDS else field.holding
        # A native's class is written by hand: its descriptions are never rewrapped.
        fields.append(ClassField(name, pinned.description, value, holding, None, field.target))
    members = tuple(NATIVE_CLASS_MEMBERS.get(code, {}).items())
    return ContentClass(f"{code}Content", native_class_docstring(code), tuple(fields), members)


NATIVE_CLASSES: dict[str, ContentClass] = {
    code: _native_class(code) for code in (*PINNED_STRUCTURES, *FIELDLESS_NATIVES)
}
