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
_WIDTH = 80  # prettier's print width: past it a line is written as prettier breaks it
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
    doc = _jsdoc(concept.description, imprecise=concept.imprecision, indent="")
    if concept.base_ref is not None:
        expression = f"z.lazy(() => {names[concept.base_ref]}Schema)"
    elif concept.open_shape:
        expression = "z.unknown()"
    else:
        members = "".join(_member(field, names) for field in concept.fields)
        expression = f"z.object({{\n{members}}})" if members else "z.object({})"
    if recursive:
        declared = _ts_concept_type(concept, names)
        return (
            f"{doc}export type {name} = {declared};\n"
            f"export const {name}Schema: z.ZodType<{name}> = {expression};"
        )
    alias = f"export type {name} = z.infer<typeof {name}Schema>;"
    if len(alias) > _WIDTH:
        alias = f"export type {name} = z.infer<\n  typeof {name}Schema\n>;"
    return f"{doc}export const {name}Schema = {expression};\n{alias}"


def _member(field: ConceptField, names: dict[str, str]) -> str:
    """One member of a `z.object({...})`, its JSDoc above it, broken as prettier breaks a long one."""
    reasons = field.type.imprecisions()
    doc = _jsdoc(field.description, imprecise="; ".join(reasons) or None, indent="  ")
    expression = _zod(field.type, names)
    if field.has_default:
        modifiers = [f".default({_ts_literal(field.default)})"]
    else:
        modifiers = [".nullish()"] if field.may_hold_nothing else []
    flat = f"  {_key(field.name)}: {expression}{''.join(modifiers)},"
    if len(flat) <= _WIDTH:
        return f"{doc}{flat}\n"
    return f"{doc}  {_key(field.name)}: {_broken_chain(expression, modifiers)},\n"


def _broken_chain(expression: str, modifiers: list[str]) -> str:
    """A member's expression too long for its line, as prettier writes it: with two calls or more, `z`
    stays and each call takes a line of its own (an enum's members one a line when the call still does
    not fit); a single `z.enum([...])` call has its members one a line; any other single call stays."""
    head, *calls = _chain_links(expression)
    chain = calls + modifiers
    if len(chain) < 2:
        if chain and _is_enum(chain[0]):
            return head + _enum_exploded(chain[0], indent=2)
        return expression + "".join(modifiers)
    lines = (
        _enum_exploded(call, indent=4) if _is_enum(call) and 4 + len(call) > _WIDTH else call
        for call in chain
    )
    return head + "".join(f"\n    {line}" for line in lines)


def _chain_links(expression: str) -> list[str]:
    """`z.number().int()` as `["z", ".number()", ".int()"]`: split at the dots outside brackets and strings."""
    links: list[str] = []
    current, depth, quote, escaped = "", 0, "", False
    for char in expression:
        if escaped:
            escaped = False
        elif quote:
            escaped = char == "\\"
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        else:
            if char == "." and depth == 0 and current:
                links.append(current)
                current = ""
            depth += {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}.get(char, 0)
        current += char
    return [*links, current]


def _is_enum(call: str) -> bool:
    return call.startswith(".enum([") and call.endswith("])")


def _enum_exploded(call: str, *, indent: int) -> str:
    members = _enum_members(call[len(".enum([") : -len("])")])
    listed = "".join(f"{' ' * (indent + 2)}{member},\n" for member in members)
    return f".enum([\n{listed}{' ' * indent}])"


def _enum_members(text: str) -> list[str]:
    """`"a", 'b, c'` split at the commas outside string literals."""
    members: list[str] = []
    current, quote, escaped = "", "", False
    for char in text:
        if escaped:
            escaped = False
        elif quote:
            escaped = char == "\\"
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == ",":
            members.append(current.strip())
            current = ""
            continue
        current += char
    return [*members, current.strip()]


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
    if concept.open_shape:
        return "unknown"
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
        return f"Array<{_ts_type(field_type.item, names)}>"
    if shape is Shape.DICT and field_type.item is not None:
        return f"Record<string, {_ts_type(field_type.item, names)}>"
    return "unknown"


def _binder(type_names: list[str]) -> str:
    if not type_names:
        return ""
    specifiers = [specifier for name in type_names for specifier in (f"{name}Schema", f"type {name}")]
    flat = f'import {{ {", ".join(specifiers)} }} from "./types";'
    if len(flat) > _WIDTH:
        flat = "import {\n" + "".join(f"  {specifier},\n" for specifier in specifiers) + '} from "./types";'
    # The reference's words, so the two engines' binders read alike.
    pairs = [
        f"/** Parse a wire payload into a validated `{name}`. */\n"
        f"{_signature(f'parse{name}', 'wire: unknown', name)}\n"
        f"  return {name}Schema.parse(wire);\n"
        "}\n\n"
        f"/** Validate a `{name}` for the wire (keys are already wire-native). */\n"
        f"{_signature(f'serialize{name}', f'value: {name}', name)}\n"
        f"  return {name}Schema.parse(value);\n"
        "}"
        for name in type_names
    ]
    return flat + "\n\n" + "\n\n".join(pairs) + "\n"


def _signature(function: str, parameter: str, returns: str) -> str:
    flat = f"export function {function}({parameter}): {returns} {{"
    return flat if len(flat) <= _WIDTH else f"export function {function}(\n  {parameter},\n): {returns} {{"


def _banner(part: str) -> str:
    what = "zod schemas and types" if part == "types" else "parse and serialize helpers over types.ts"
    return (
        f"// Generated by Methodflow codegen from the method's resolved crate (types / ts-zod, {what}).\n"
        "// Do not edit this file: generate it again. Extend a type from a module of your own.\n"
    )


def _jsdoc(description: str, *, imprecise: str | None, indent: str) -> str:
    """The JSDoc of a description as the reference writes it (lines kept as authored, `*/` broken), an
    `@imprecise` tag last when the shape is unsaid; one line for a one-line description alone."""
    lines = _jsdoc_text(description).split("\n") if description else []
    if imprecise:
        first, *rest = _jsdoc_text(imprecise).split("\n")
        lines += [f"@imprecise {first}", *rest]
    if not lines:
        return ""
    if len(lines) == 1 and not imprecise:
        return f"{indent}/** {lines[0]} */\n"
    # Right-stripped: prettier writes a blank line of a comment ` *`, never ` * `.
    body = "".join(f"{indent} * {line}".rstrip() + "\n" for line in lines)
    return f"{indent}/**\n{body}{indent} */\n"


def _jsdoc_text(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("*/", "* /")


def _key(name: str) -> str:
    return name if _IDENTIFIER.match(name) else _ts_string(name)


def _ts_string(text: str) -> str:
    """A string literal as prettier leaves it: double quotes unless single ones need fewer escapes; the
    rest escaped as JSON escapes it (non-ASCII as `\\uXXXX`, as the reference writes it)."""
    quote = "'" if text.count("'") < text.count('"') else '"'
    body = json.dumps(text)[1:-1].replace('\\"', '"').replace(quote, f"\\{quote}")
    return f"{quote}{body}{quote}"


def _ts_literal(value: Any) -> str:
    if isinstance(value, str):
        return _ts_string(value)
    if isinstance(value, dict):
        members = cast(dict[str, Any], value)
        # Sorted keys, as the reference writes them; a key prettier leaves bare is bare.
        return (
            "{ "
            + ", ".join(f"{_key(str(key))}: {_ts_literal(members[key])}" for key in sorted(members))
            + " }"
            if members
            else "{}"
        )
    if isinstance(value, list):
        return f"[{', '.join(_ts_literal(item) for item in cast(list[Any], value))}]"
    return json.dumps(value)


def _pascal(segment: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in segment.split("_") if part)
