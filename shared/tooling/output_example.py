"""What a pipe's output looks like, three ways: its JSON Schema, an example value, pydantic source. Pure.

All three describe the content a run delivers as the main stuff (`/v1/runs/{id}/results`'s
`main_stuff`): a concept's content object, and for a plural output `{"items": [...]}`. The schema is
the output's `pipe_io_contracts` schema (which states the `ListContent` envelope of a plural output); the
example is built from that schema (following its `$ref`s into its `$defs`) with the inputs template's placeholders (`<field>_value`, `0`, `false`, `2026-01-01`...), so
it always fits it; the source declares one model per concept the output reaches.
"""

from __future__ import annotations

import json
import keyword
import re
from collections.abc import Mapping
from typing import Any, cast

from pydantic import BaseModel

from shared.language.blueprint import FieldBlueprint, FieldType
from shared.language.library import Library
from shared.language.natives import NATIVE_DESCRIPTIONS, SHAPELESS_NATIVES

_FORMAT_EXAMPLES = {"date": "2026-01-01", "date-time": "2026-01-01T12:00:00", "time": "12:00:00"}
_MAX_DEPTH = 8  # where an example stops: a cycle of structures nests without end


def output_schema(output: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON Schema of the delivered content: the output's `pipe_io_contracts` schema."""
    return dict(cast("Mapping[str, Any]", output.get("json_schema") or {}))


def output_example(output: Mapping[str, Any]) -> Any:
    """An example of the delivered content, fitting `output_schema(output)`."""
    return example_from_schema(output_schema(output), "output")


def example_from_schema(
    schema: Mapping[str, Any], name: str, depth: int = 0, defs: Mapping[str, Any] | None = None
) -> Any:
    """A placeholder value valid for `schema` (the subset `contract_schema` writes), every member filled;
    `defs` is the top-level `$defs` its `$ref`s point into (the schema's own at the top)."""
    if defs is None:
        defs = cast("Mapping[str, Any]", schema.get("$defs") or {})
    if "$ref" in schema:
        schema = cast("Mapping[str, Any]", defs.get(str(schema["$ref"]).rpartition("/")[2]) or {})
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return cast("list[Any]", schema["enum"])[0]
    if "anyOf" in schema:
        options = cast("list[Mapping[str, Any]]", schema["anyOf"])
        return next(
            (
                example_from_schema(option, name, depth, defs)
                for option in options
                if option.get("type") != "null"
            ),
            None,
        )
    kind = schema.get("type")
    if (kind == "object" or "properties" in schema) and depth <= _MAX_DEPTH:
        properties = cast("Mapping[str, Mapping[str, Any]]", schema.get("properties") or {})
        return {
            member: example_from_schema(sub, member, depth + 1, defs) for member, sub in properties.items()
        }
    if kind == "array":
        item = cast("Mapping[str, Any]", schema.get("items") or {})
        count = int(schema.get("minItems") or 1) if depth <= _MAX_DEPTH else 0
        return [example_from_schema(item, f"{name}_item", depth + 1, defs) for _ in range(count)]
    scalars: dict[str, Any] = {"integer": 0, "number": 0.0, "boolean": False}
    if kind in ("integer", "number") and ("minimum" in schema or "exclusiveMinimum" in schema):
        low = schema["minimum"] if "minimum" in schema else schema["exclusiveMinimum"] + 1  # e.g. a width
        return int(low) if kind == "integer" else float(low)
    if kind == "string":
        return _FORMAT_EXAMPLES.get(str(schema.get("format")), f"{name}_value")
    return scalars.get(str(kind), {})


def output_python(library: Library, output: Mapping[str, Any], pipe_ref: str) -> str:
    """Pydantic source of the delivered content: one model per reached concept, dependencies first."""
    writer = _ModelWriter(library)
    concept = str(output["concept_ref"])
    top = writer.type_of(concept)
    lines = [
        f'"""Pydantic models of the output of `{pipe_ref}` ({_spec(output)}), as a run delivers it."""',
        "",
        *(["import datetime"] if writer.uses_datetime else []),
        *([f"from typing import {', '.join(sorted(writer.typing_names))}"] if writer.typing_names else []),
        *([""] if writer.uses_datetime or writer.typing_names else []),
        "from pydantic import BaseModel, ConfigDict, Field",
        *writer.blocks,
    ]
    if output.get("multiplicity", "single") != "single":
        count = output.get("item_count")
        bounds = f"min_length={count}, max_length={count}, " if count is not None else ""
        lines += [
            "",
            "",
            "class Output(BaseModel):",
            f'    """The output of `{pipe_ref}`: a list of `{concept}`."""',
            "",
            f'    items: list[{top}] = Field({bounds}description="The items of the output.")',
        ]
    else:
        lines += ["", "", f"Output = {top}"]
    # A class naming one written after it (a cycle of structures) is completed once both exist.
    lines += (
        ["", *(f"{name}.model_rebuild()" for name in sorted(writer.forward_users))]
        if writer.forward_users
        else []
    )
    return "\n".join(lines) + "\n"


def _spec(output: Mapping[str, Any]) -> str:
    plural = {"single": "", "variable": "[]"}.get(
        str(output.get("multiplicity")), f"[{output.get('item_count')}]"
    )
    return f"{output['concept_ref']}{plural}"


class _ModelWriter:
    """Writes one class per concept, each after the classes its fields name."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self.blocks: list[str] = []
        self.names: dict[str, str] = {}  # concept ref -> class name, set before its fields are written
        self.uses_datetime = False
        self.typing_names: set[str] = set()  # what the source imports from `typing`
        self.written: set[str] = set()
        self.writing: list[str] = []  # the classes whose fields are being written, innermost last
        self.forward_users: set[str] = set()  # classes naming a class not yet written

    def type_of(self, ref: str) -> str:
        """The Python type of a concept's content, writing its class first when needed."""
        concept = self.library.concepts.get(ref)
        structure = self.library.structure_of(ref)
        if concept is None or structure is None or concept.code in SHAPELESS_NATIVES:
            self.typing_names.add("Any")
            return "dict[str, Any]"
        if ref in self.names:
            if self.names[ref] not in self.written:  # a cycle: named before it is defined
                self.forward_users.add(self.writing[-1])
            return self.names[ref]
        taken = set(self.names.values())
        name = (
            concept.code
            if concept.code not in taken
            else f"{concept.domain.title().replace('_', '')}{concept.code}"
        )
        self.names[ref] = name
        self.writing.append(name)
        members = [self._member(field_name, field, concept.domain) for field_name, field in structure.items()]
        self.writing.pop()
        # Natives are assembled with their code as description; their documented one reads better.
        description = (
            NATIVE_DESCRIPTIONS.get(concept.code, concept.description)
            if concept.is_native
            else concept.description
        )
        body = [
            f"    {_docstring(description)}",
            "",
            '    model_config = ConfigDict(extra="forbid", populate_by_name=True)',
        ]
        self.blocks += ["", "", f"class {name}(BaseModel):", *body, *(["", *members] if members else [])]
        self.written.add(name)
        return name

    def _member(self, name: str, field: FieldBlueprint, domain: str) -> str:
        undefined = set(self.names.values()) - self.written
        python_type = self._field_type(field, domain)
        if not field.required:
            python_type = f"{python_type} | None"
        if any(_names(python_type, class_name) for class_name in undefined):
            python_type = f'"{python_type}"'  # resolved by the `model_rebuild()` at the end
        arguments = [f"description={_literal(field.description)}"]
        attribute = name
        if keyword.iskeyword(name) or hasattr(BaseModel, name) or name.startswith("_"):
            attribute = f"{name.strip('_')}_field"
            arguments.insert(0, f"alias={_literal(name)}")
        if field.required:
            return f"    {attribute}: {python_type} = Field({', '.join(arguments)})"
        return (
            f"    {attribute}: {python_type} = Field(default={field.default_value!r}, {', '.join(arguments)})"
        )

    def _field_type(self, field: FieldBlueprint, domain: str) -> str:
        if field.choices is not None:
            self.typing_names.add("Literal")
            return f"Literal[{', '.join(_literal(choice) for choice in field.choices)}]"
        kind = field.effective_type
        if kind is FieldType.CONCEPT:
            target = self.library.resolve_concept(field.concept_ref or "", domain)
            return self.type_of(target) if target else self._any("dict[str, Any]")
        if kind is FieldType.LIST:
            return f"list[{self._item_type(field, domain)}]"
        if kind is FieldType.DICT:
            value = _scalar_type(field.value_type or "", self) or self._any("Any")
            return f"dict[str, {value}]"
        return _scalar_type(kind.value, self) or self._any("Any")

    def _item_type(self, field: FieldBlueprint, domain: str) -> str:
        item = field.item_type or "text"
        scalar = _scalar_type(item, self)
        if scalar is not None:
            return scalar
        reference = field.item_concept_ref if item == FieldType.CONCEPT.value else item
        target = self.library.resolve_concept(reference or "", domain)
        return self.type_of(target) if target else self._any("Any")

    def _any(self, python_type: str) -> str:
        self.typing_names.add("Any")
        return python_type


def _scalar_type(type_name: str, writer: _ModelWriter) -> str | None:
    python = {"text": "str", "str": "str", "integer": "int", "number": "float", "boolean": "bool"}.get(
        type_name
    )
    if python is not None:
        return python
    if type_name in ("date", "datetime", "time"):
        writer.uses_datetime = True
        return f"datetime.{type_name}"
    return None


def _names(annotation: str, class_name: str) -> bool:
    """Whether `annotation` names the class `class_name` (as a whole word)."""
    return re.search(rf"\b{re.escape(class_name)}\b", annotation) is not None


def _literal(text: str) -> str:
    """A Python string literal of `text` (a JSON string is one, with double quotes)."""
    return json.dumps(text, ensure_ascii=False)


def _docstring(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return f'"""{escaped}"""' if not escaped.endswith('"') else f'"""{escaped} """'
