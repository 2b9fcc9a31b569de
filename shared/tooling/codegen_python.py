"""Python projections of a crate's concepts (`POST /v1/codegen`): `models.py` and `structures.py`. Pure.

- `python-pydantic` → `models.py`: one pydantic `BaseModel` per concept of the crate, the natives the
  method uses included, so the module needs nothing but pydantic.
- `python-structures` → `structures.py`: the method's own concepts (and the natives they hold) as
  subclasses of a `StructuredContent` base. Pipelex's base lives in pipelex, which this service's
  users do not install, so the module defines its own `StructuredContent(BaseModel)` and needs only
  pydantic; in a pipelex host, replace that class by pipelex's import.

Per field: `str`, `int`, `float`, `bool`, `date` / `datetime` / `time`, `Literal[...]` for choices,
the class of a concept, `list[...]`, `dict[str, ...]`, `Any` for what has no declared type. A
required field is `Field(...)`, a field with a default has it, any other is `X | None` defaulting to
`None`. A concept refining another of the crate without fields of its own subclasses its class; a
concept with no declared fields (description only, shapeless natives) keeps every member it is sent
(`extra="allow"`). Annotations are postponed (`from __future__ import annotations`), so a class may
name one defined below it. A class body cannot read a name one of its fields shadows (`date: date`
in the native `Date`): any name used in annotations or calls that is also a field name of the module
is spelled through a private alias (`_date = date`) defined once in the module.
"""

from __future__ import annotations

import keyword
import math
from inspect import cleandoc
from typing import Any, cast

from shared.tooling.codegen_concepts import (
    CodegenConcept,
    ConceptField,
    FieldType,
    Shape,
    crate_concepts,
    in_base_order,
    reachable,
    type_names,
)
from shared.tooling.codegen_stamp import Artifact

PYDANTIC_FILENAME = "models.py"
STRUCTURES_FILENAME = "structures.py"
_WIDTH = 88  # past it a `Field(...)` call or an import is written one item a line, as ruff format would
_INDENT = "    "
_MODULE_NAMES = frozenset({"BaseModel", "ConfigDict", "Field", "Literal", "Any", "StructuredContent"})
_SCALARS = {Shape.TEXT: "str", Shape.INTEGER: "int", Shape.NUMBER: "float", Shape.BOOLEAN: "bool"}
_TEMPORAL = {Shape.DATE: "date", Shape.DATETIME: "datetime", Shape.TIME: "time"}
_STRUCTURED_CONTENT = '''class StructuredContent(BaseModel):
    """Base of the structures of this module.

    It stands in for pipelex's `pipelex.core.stuffs.structured_content.StructuredContent`, so the
    module needs only pydantic. In a pipelex host, import that class instead of this one.
    """'''


def python_class_names(crate: dict[str, Any]) -> dict[str, str]:
    """The class name of each concept ref of the crate (the same in both Python projections)."""
    return type_names(
        crate_concepts(crate),
        qualified=lambda domain, code: f"{domain.replace('.', '_')}__{code}",
        reserved=frozenset(keyword.kwlist) | _MODULE_NAMES,
    )


def python_pydantic(crate: dict[str, Any]) -> list[Artifact]:
    """`models.py`: a `BaseModel` per concept of the crate."""
    concepts = crate_concepts(crate)
    module = _Module(python_class_names(crate), root="BaseModel")
    return [Artifact(PYDANTIC_FILENAME, module.render(concepts, target="python-pydantic"))]


def python_structures(crate: dict[str, Any]) -> list[Artifact]:
    """`structures.py`: a `StructuredContent` subclass per concept of the method and native it holds."""
    concepts = crate_concepts(crate)
    wanted = reachable(concepts, [concept.ref for concept in concepts if not concept.is_native])
    module = _Module(python_class_names(crate), root="StructuredContent")
    emitted = [concept for concept in concepts if concept.ref in wanted]
    return [Artifact(STRUCTURES_FILENAME, module.render(emitted, target="python-structures"))]


class _Module:
    """One generated module: the names it imports and aliases, collected while its classes render."""

    def __init__(self, class_names: dict[str, str], *, root: str) -> None:
        self.class_names = class_names
        self.root = root
        self.imports: dict[str, set[str]] = {}
        self.shadowed: frozenset[str] = frozenset()
        self.aliased: set[str] = set()

    def render(self, concepts: list[CodegenConcept], *, target: str) -> str:
        self.shadowed = frozenset(field.name for concept in concepts for field in concept.fields)
        banner = _banner(target)
        if not concepts:
            return banner
        classes = [self._class(concept) for concept in in_base_order(concepts)]
        self._import("pydantic", "BaseModel")
        if self.root == "StructuredContent":
            classes.insert(0, _STRUCTURED_CONTENT)
        defined = {self.class_names[concept.ref] for concept in concepts} | {"StructuredContent"}
        early = sorted(name for name in self.aliased if name not in defined)
        late = sorted(name for name in self.aliased if name in defined)
        parts = [banner + "from __future__ import annotations\n\n" + self._import_block()]
        if early:
            parts[0] += "\n\n" + "".join(f"_{name} = {name}\n" for name in early)
        parts += classes
        text = "\n\n\n".join(part.rstrip("\n") for part in parts) + "\n"
        if late:
            # Class aliases follow the classes; postponed annotations read them when the models complete.
            text += "\n\n" + "".join(f"_{name} = {name}\n" for name in late)
        return text

    def _import(self, module: str, name: str) -> None:
        self.imports.setdefault(module, set()).add(name)

    def _import_block(self) -> str:
        stdlib = [module for module in ("datetime", "typing") if module in self.imports]
        groups = [stdlib, ["pydantic"]]
        return "\n\n".join(
            "\n".join(_import_line(module, sorted(self.imports[module])) for module in group)
            for group in groups
            if group
        )

    def _spell(self, name: str) -> str:
        if name in self.shadowed:
            self.aliased.add(name)
            return f"_{name}"
        return name

    def _class(self, concept: CodegenConcept) -> str:
        name = self.class_names[concept.ref]
        base = self.class_names[concept.base_ref] if concept.base_ref is not None else self.root
        caveat = f"Imprecise: {concept.imprecision}." if concept.imprecision else ""
        body = [_docstring(concept.description, caveat)]
        if concept.open_shape:
            self._import("pydantic", "ConfigDict")
            body.append(f'    model_config = {self._spell("ConfigDict")}(extra="allow")')
        elif concept.fields:
            body.append("\n".join(self._field(field) for field in concept.fields))
        return f"class {name}({base}):\n" + "\n\n".join(body)

    def _field(self, field: ConceptField) -> str:
        annotation = self._annotation(field.type)
        if field.required:
            arguments = ["..."]
        elif field.has_default:
            arguments = [f"default={self._default(field)}"]
        else:
            annotation += " | None"
            arguments = ["default=None"]
        arguments.append(f"description={py_string(field.description)}")
        self._import("pydantic", "Field")
        call = self._spell("Field")
        reasons = field.type.imprecisions()
        comment = f"  # imprecise: {'; '.join(reasons)}" if reasons else ""
        line = f"    {field.name}: {annotation} = {call}({', '.join(arguments)})"
        # The comment counts: ruff format splits the call so that `)  # imprecise: ...` fits too.
        if len(line) + len(comment) <= _WIDTH:
            return line + comment
        head_room = _WIDTH - len(f"    {field.name}: ") - len(f" = {call}(")
        exploded = "".join(f"        {argument},\n" for argument in arguments)
        return f"    {field.name}: {_bracket_exploded(annotation, head_room)} = {call}(\n{exploded}    ){comment}"

    def _annotation(self, field_type: FieldType) -> str:
        shape = field_type.shape
        if shape in _SCALARS:
            return self._spell(_SCALARS[shape])
        if shape in _TEMPORAL:
            self._import("datetime", _TEMPORAL[shape])
            return self._spell(_TEMPORAL[shape])
        if shape is Shape.CHOICE:
            self._import("typing", "Literal")
            return (
                f"{self._spell('Literal')}[{', '.join(py_string(choice) for choice in field_type.choices)}]"
            )
        if shape is Shape.CONCEPT and field_type.concept_ref is not None:
            return self._spell(self.class_names[field_type.concept_ref])
        if shape is Shape.LIST and field_type.item is not None:
            return f"{self._spell('list')}[{self._annotation(field_type.item)}]"
        if shape is Shape.DICT and field_type.item is not None:
            return f"{self._spell('dict')}[{self._spell('str')}, {self._annotation(field_type.item)}]"
        self._import("typing", "Any")
        return self._spell("Any")

    def _default(self, field: ConceptField) -> str:
        shape = field.type.shape
        if shape in _TEMPORAL and isinstance(field.default, str):
            # A TOML date or time reaches the crate as its ISO text: rebuilt as the field's type.
            return f"{self._spell(_TEMPORAL[shape])}.fromisoformat({py_string(field.default)})"
        return py_literal(field.default)


def _banner(target: str) -> str:
    return (
        f"# Generated by Methodflow codegen from the method's resolved crate (types / {target}).\n"
        "# Do not edit this file: generate it again. To extend a class, subclass it in a module of\n"
        "# your own.\n"
    )


def _import_line(module: str, names: list[str]) -> str:
    flat = f"from {module} import {', '.join(names)}"
    if len(flat) <= _WIDTH:
        return flat
    return f"from {module} import (\n" + "".join(f"{_INDENT}{name},\n" for name in names) + ")"


def _bracket_exploded(annotation: str, room: int) -> str:
    """An annotation too long for the head of an exploded `Field(` line, its outer brackets opened one
    member a line as ruff format writes it (an optional one inside parentheses); else as it is."""
    if len(annotation) <= room:
        return annotation
    optional = annotation.endswith(" | None")
    core = annotation.removesuffix(" | None") if optional else annotation
    name, _, inner = core.partition("[")
    members = _top_level_members(inner[:-1]) if name and inner and core.endswith("]") else []
    if len(members) < 2:
        return annotation
    depth = 3 if optional else 2
    listed = "".join(f"{_INDENT * depth}{member},\n" for member in members)
    exploded = f"{name}[\n{listed}{_INDENT * (depth - 1)}]"
    return f"(\n{_INDENT * 2}{exploded}\n{_INDENT * 2}| None\n{_INDENT})" if optional else exploded


def _top_level_members(inner: str) -> list[str]:
    """`a, b[c, d], "e, f"` split at the commas outside brackets and string literals."""
    members: list[str] = []
    current, depth, quote, escaped = "", 0, "", False
    for char in inner:
        if escaped:
            escaped = False
        elif quote:
            escaped = char == "\\"
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "," and depth == 0:
            members.append(current.strip())
            current = ""
            continue
        else:
            depth += {"[": 1, "]": -1}.get(char, 0)
        current += char
    return [*members, current.strip()]


def _docstring(description: str, caveat: str = "") -> str:
    """A class docstring that ruff format and pydocstyle leave as it is, and `inspect.getdoc` reads back
    as the description (lines right-stripped, common indent and blank edges dropped), `caveat` a second
    paragraph: summary line, continuation at the body's indent, closing quotes on their own line."""
    parts = [
        cleandoc("\n".join(line.rstrip() for line in part.splitlines()))
        for part in (description, caveat)
        if part.strip()
    ]
    if not parts:
        return f'{_INDENT}""""""'
    text = "\n\n".join(parts)
    quotes = _verbatim_quotes(text)
    if quotes is None:
        # No verbatim spelling exists: each line escaped as a string literal's inside, breaks written `\n`.
        escaped = f"\\n\\n{_INDENT}".join(
            f"\\n{_INDENT}".join(py_string(line)[1:-1] for line in part.split("\n")) for part in parts
        )
        return f'{_INDENT}"""{escaped}"""'
    prefix = "r" if "\\" in text else ""
    head, *rest = text.split("\n")
    if not rest:
        return f"{_INDENT}{prefix}{quotes}{head}{quotes}"
    continuation = "\n".join(f"{_INDENT}{line}" if line else "" for line in rest)
    return f"{_INDENT}{prefix}{quotes}{head}\n{continuation}\n{_INDENT}{quotes}"


def _verbatim_quotes(text: str) -> str | None:
    """The triple quotes `text` can sit in unescaped (a raw string when it holds a backslash), or None."""
    if text.endswith("\\") or any(char not in "\n\t" and not char.isprintable() for char in text):
        return None
    fitting = (quotes for quotes in ('"""', "'''") if quotes not in text and not text.endswith(quotes[0]))
    return next(fitting, None)


def py_string(text: str) -> str:
    """A Python string literal of `text`: double quotes unless single quotes need fewer escapes."""
    quote = "'" if text.count('"') > text.count("'") else '"'
    escapes = {"\\": "\\\\", quote: f"\\{quote}", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    body = "".join(escapes.get(char, char if char.isprintable() else _escape(char)) for char in text)
    return f"{quote}{body}{quote}"


def py_literal(value: Any) -> str:
    """The Python literal of a JSON value."""
    if isinstance(value, str):
        return py_string(value)
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, float) and not math.isfinite(value):
        return f'float("{value}")'
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return f"[{', '.join(py_literal(item) for item in cast(list[Any], value))}]"
    members = cast(dict[str, Any], value)
    # Sorted keys, as the reference writes them: the member order of the method does not change the code.
    return (
        "{" + ", ".join(f"{py_string(str(key))}: {py_literal(members[key])}" for key in sorted(members)) + "}"
    )


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
