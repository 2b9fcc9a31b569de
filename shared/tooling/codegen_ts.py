"""TypeScript projection of a crate's concepts (`ts-zod` of `POST /v1/codegen`): `types.ts`, `binder.ts`. Pure.

`types.ts` imports only `zod`: per concept `export const XSchema = z.object({...})` and
`export type X = z.infer<typeof XSchema>`, each documented by JSDoc from the descriptions. Keys are the
crate's field names as they travel on the wire. Per field: `z.string()` (dates and times too: ISO text on
the wire), `z.number().int()`, `z.number()`, `z.boolean()`, `z.enum([...])` for choices, `z.lazy(() =>
YSchema)` for a concept (so declaration order never matters), `z.array(...)`, `z.record(z.string(),
...)`, `z.unknown()` for what has no declared type. A required field is plain, a field with a default
ends `.default(value)`, any other `.nullish()` (the wire writes an unset member as `null` or leaves it
out). A concept refining another of the crate without fields of its own is that concept's schema; a
concept with no declared fields is `z.unknown()`. Concepts that reach themselves through their fields
get an explicit type, which TypeScript needs to type a recursive schema.

`binder.ts` gives each concept `parseX(wire: unknown): X` (validates a wire payload, throwing zod's
error) and `serializeX(value: X): unknown` (validates a value and gives the payload to send). The code is
written as prettier would format it for short lines; long lines are left long.
"""

from __future__ import annotations

import json
import re
from typing import Any, cast

from shared.tooling.codegen_concepts import (
    CodegenConcept,
    ConceptField,
    FieldType,
    Shape,
    crate_concepts,
    reachable,
    type_names,
)
from shared.tooling.codegen_stamp import Artifact

TYPES_FILENAME = "types.ts"
BINDER_FILENAME = "binder.ts"
_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
_SCALARS = {
    Shape.TEXT: ("z.string()", "string"),
    Shape.DATE: ("z.string()", "string"),
    Shape.DATETIME: ("z.string()", "string"),
    Shape.TIME: ("z.string()", "string"),
    Shape.INTEGER: ("z.number().int()", "number"),
    Shape.NUMBER: ("z.number()", "number"),
    Shape.BOOLEAN: ("z.boolean()", "boolean"),
}


def ts_type_names(crate: dict[str, Any]) -> dict[str, str]:
    """The type name of each concept ref; its schema is `<name>Schema`."""
    return type_names(
        crate_concepts(crate),
        qualified=lambda domain, code: "".join(_pascal(segment) for segment in domain.split(".")) + code,
        reserved=frozenset(),
        symbols=lambda name: {name, f"{name}Schema"},
    )


def ts_zod(crate: dict[str, Any]) -> list[Artifact]:
    """`binder.ts` and `types.ts` (in the order of their paths, as the lock lists them)."""
    concepts = crate_concepts(crate)
    names = ts_type_names(crate)
    recursive = {concept.ref for concept in concepts if _reaches_itself(concepts, concept)}
    schemas = [_schema(concept, names, recursive=concept.ref in recursive) for concept in concepts]
    types = _banner("types") + (
        'import { z } from "zod";\n\n' + "\n\n".join(schemas) + "\n" if schemas else ""
    )
    binder = _banner("binder") + _binder([names[concept.ref] for concept in concepts])
    return [Artifact(BINDER_FILENAME, binder), Artifact(TYPES_FILENAME, types)]


def _reaches_itself(concepts: list[CodegenConcept], concept: CodegenConcept) -> bool:
    return concept.ref in reachable(concepts, concept.concept_refs())


def _schema(concept: CodegenConcept, names: dict[str, str], *, recursive: bool) -> str:
    name = names[concept.ref]
    doc = _jsdoc(concept.description, indent="")
    if concept.base_ref is not None:
        expression = f"z.lazy(() => {names[concept.base_ref]}Schema)"
    elif concept.open_shape:
        expression = "z.unknown()"
    else:
        members = "".join(
            _jsdoc(field.description, indent="  ") + f"  {_key(field.name)}: {_zod_field(field, names)},\n"
            for field in concept.fields
        )
        expression = f"z.object({{\n{members}}})" if members else "z.object({})"
    if recursive:
        declared = _ts_concept_type(concept, names)
        return (
            f"{doc}export type {name} = {declared};\n"
            f"export const {name}Schema: z.ZodType<{name}> = {expression};"
        )
    return (
        f"{doc}export const {name}Schema = {expression};\nexport type {name} = z.infer<typeof {name}Schema>;"
    )


def _zod_field(field: ConceptField, names: dict[str, str]) -> str:
    expression = _zod(field.type, names)
    if field.has_default:
        return f"{expression}.default({_ts_literal(field.default)})"
    return f"{expression}.nullish()" if field.may_hold_nothing else expression


def _zod(field_type: FieldType, names: dict[str, str]) -> str:
    shape = field_type.shape
    if shape in _SCALARS:
        return _SCALARS[shape][0]
    if shape is Shape.CHOICE:
        return f"z.enum([{', '.join(_ts_string(choice) for choice in field_type.choices)}])"
    if shape is Shape.CONCEPT and field_type.concept_ref is not None:
        return f"z.lazy(() => {names[field_type.concept_ref]}Schema)"
    if shape is Shape.LIST and field_type.item is not None:
        return f"z.array({_zod(field_type.item, names)})"
    if shape is Shape.DICT and field_type.item is not None:
        return f"z.record(z.string(), {_zod(field_type.item, names)})"
    return "z.unknown()"


def _ts_concept_type(concept: CodegenConcept, names: dict[str, str]) -> str:
    """The explicit type of a recursive concept: what its schema parses to, member for member."""
    if concept.base_ref is not None:
        return names[concept.base_ref]
    members = "".join(
        f"  {_key(field.name)}{'?' if field.may_hold_nothing else ''}: "
        f"{_ts_type(field.type, names)}{' | null' if field.may_hold_nothing else ''};\n"
        for field in concept.fields
    )
    return f"{{\n{members}}}" if members else "{}"


def _ts_type(field_type: FieldType, names: dict[str, str]) -> str:
    shape = field_type.shape
    if shape in _SCALARS:
        return _SCALARS[shape][1]
    if shape is Shape.CHOICE:
        return " | ".join(_ts_string(choice) for choice in field_type.choices)
    if shape is Shape.CONCEPT and field_type.concept_ref is not None:
        return names[field_type.concept_ref]
    if shape is Shape.LIST and field_type.item is not None:
        item = _ts_type(field_type.item, names)
        return f"({item})[]" if " " in item else f"{item}[]"
    if shape is Shape.DICT and field_type.item is not None:
        return f"{{ [key: string]: {_ts_type(field_type.item, names)} }}"
    return "unknown"


def _binder(type_names: list[str]) -> str:
    if not type_names:
        return ""
    specifiers = [specifier for name in type_names for specifier in (f"{name}Schema", f"type {name}")]
    flat = f'import {{ {", ".join(specifiers)} }} from "./types";'
    if len(flat) > 80:
        flat = "import {\n" + "".join(f"  {specifier},\n" for specifier in specifiers) + '} from "./types";'
    pairs = [
        f"/** Parses a wire payload as a `{name}`; throws zod's error when it does not match. */\n"
        f"export function parse{name}(wire: unknown): {name} {{\n"
        f"  return {name}Schema.parse(wire);\n"
        "}\n\n"
        f"/** Checks a `{name}` and gives the payload to send (its keys are the wire's already). */\n"
        f"export function serialize{name}(value: {name}): unknown {{\n"
        f"  return {name}Schema.parse(value);\n"
        "}"
        for name in type_names
    ]
    return flat + "\n\n" + "\n\n".join(pairs) + "\n"


def _banner(part: str) -> str:
    what = "zod schemas and types" if part == "types" else "parse and serialize helpers over types.ts"
    return (
        f"// Generated by Methodflow codegen from the method's resolved crate (types / ts-zod, {what}).\n"
        "// Do not edit this file: generate it again. Extend a type from a module of your own.\n"
    )


def _jsdoc(description: str, *, indent: str) -> str:
    lines = [
        line.rstrip()
        for line in description.replace("\r\n", "\n").replace("\r", "\n").replace("*/", "*\\/").split("\n")
    ]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    if not lines:
        return ""
    if len(lines) == 1:
        return f"{indent}/** {lines[0]} */\n"
    body = "".join(f"{indent} * {line}".rstrip() + "\n" for line in lines)
    return f"{indent}/**\n{body}{indent} */\n"


def _key(name: str) -> str:
    return name if _IDENTIFIER.match(name) else _ts_string(name)


def _ts_string(text: str) -> str:
    # A JSON string is a TypeScript string literal (U+2028 and U+2029 are allowed since ES2019).
    return json.dumps(text, ensure_ascii=False)


def _ts_literal(value: Any) -> str:
    if isinstance(value, dict):
        members = cast(dict[str, Any], value)
        return (
            "{ " + ", ".join(f"{_key(str(key))}: {_ts_literal(item)}" for key, item in members.items()) + " }"
            if members
            else "{}"
        )
    if isinstance(value, list):
        return f"[{', '.join(_ts_literal(item) for item in cast(list[Any], value))}]"
    return json.dumps(value, ensure_ascii=False)


def _pascal(segment: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in segment.split("_") if part)
