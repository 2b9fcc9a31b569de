"""The concepts of a crate as the code generators read them: typed fields and unique type names. Pure.

Both languages' generators (`codegen_python.py`, `codegen_ts.py`) read a crate (`crate_json.py`)
through this one view, so they agree on what each field holds and which concepts have no shape.

Type names: a concept's code when no other concept of the crate has the same code; otherwise a name
qualified by its domain, spelled per language (Python `crm__Item`, the reference's spelling, with a
dotted domain's dots written `_`; TypeScript `CrmItem`). Concepts take their names in the order of
their refs: a name already taken (two domains spelled alike, `a.b` and `a_b`), a name the generated
module needs for itself (`BaseModel`, `Field`...) or a keyword (`None`) gets the first free numeric
suffix (`Field2`), and no concept takes a name another one would have had without a suffix.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

Json = dict[str, Any]


class Shape(StrEnum):
    """What a field (or a list item, or a dict value) holds."""

    TEXT = "text"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    TIME = "time"
    CHOICE = "choice"
    CONCEPT = "concept"
    LIST = "list"
    DICT = "dict"
    ANY = "any"


@dataclass(frozen=True)
class FieldType:
    """A field's type: `concept_ref` for a concept in the crate, `item` for list items and dict values."""

    shape: Shape
    choices: tuple[str, ...] = ()
    concept_ref: str | None = None
    item: FieldType | None = None
    imprecision: str | None = None  # why an `ANY` stands where the method left the type unsaid

    def concept_refs(self) -> set[str]:
        refs = {self.concept_ref} if self.concept_ref is not None else set[str]()
        return refs | (self.item.concept_refs() if self.item is not None else set())

    def imprecisions(self) -> list[str]:
        """The reasons of every unsaid type in this one, depth first, each once."""
        reasons = [self.imprecision] if self.imprecision is not None else []
        reasons += self.item.imprecisions() if self.item is not None else []
        return list(dict.fromkeys(reasons))


@dataclass(frozen=True)
class ConceptField:
    """One field. A required field holds a value; one with a default holds it when absent; any other
    field may hold nothing (`None` / `null`)."""

    name: str
    description: str
    type: FieldType
    required: bool
    default: Any = None

    @property
    def has_default(self) -> bool:
        return self.default is not None

    @property
    def may_hold_nothing(self) -> bool:
        return not self.required and not self.has_default


@dataclass(frozen=True)
class CodegenConcept:
    """A concept of the crate. `base_ref`: the concept of the crate it refines (no fields of its own).
    `open_shape`: no declared fields, so any object is kept as sent (description-only concepts, the
    shapeless natives); `imprecision` then says why, in the reference's words, for the generated docs."""

    ref: str
    domain: str
    code: str
    description: str
    fields: tuple[ConceptField, ...]
    base_ref: str | None
    open_shape: bool
    imprecision: str | None = None

    @property
    def is_native(self) -> bool:
        return self.domain == "native"

    def concept_refs(self) -> set[str]:
        """The concepts this one's definition names (its base, its fields' concepts)."""
        refs = {self.base_ref} if self.base_ref is not None else set[str]()
        for field in self.fields:
            refs |= field.type.concept_refs()
        return refs


# The reference's words for an unsaid shape: the generated docs carry them (`Imprecise: ...`, `@imprecise`).
_NO_STRUCTURE = "concept declares no structure"
_SCALARS = {
    "text": Shape.TEXT,
    "str": Shape.TEXT,
    "integer": Shape.INTEGER,
    "number": Shape.NUMBER,
    "boolean": Shape.BOOLEAN,
    "date": Shape.DATE,
    "datetime": Shape.DATETIME,
    "time": Shape.TIME,
}


def crate_concepts(crate: Json) -> list[CodegenConcept]:
    """Every concept of the crate, in the order of their refs."""
    concepts = cast(dict[str, Json], crate["concepts"])
    return [_concept(ref, concepts[ref], known=set(concepts)) for ref in sorted(concepts)]


def _concept(ref: str, concept: Json, *, known: set[str]) -> CodegenConcept:
    domain, _, code = ref.rpartition(".")
    structure = concept.get("structure")
    refines = concept.get("refines")
    fields: tuple[ConceptField, ...] = ()
    base_ref = None
    if isinstance(structure, dict):
        fields = tuple(_field(name, field, known) for name, field in cast(dict[str, Json], structure).items())
    elif isinstance(refines, str) and refines in known:
        base_ref = refines
    open_shape = not isinstance(structure, dict) and base_ref is None
    description = str(concept.get("description", ""))
    imprecision = _shape_imprecision(structure, refines) if open_shape else None
    return CodegenConcept(ref, domain, code, description, fields, base_ref, open_shape, imprecision)


def _shape_imprecision(structure: Any, refines: Any) -> str | None:
    if isinstance(structure, str) and structure:
        return f"concept is backed by the Python class '{structure}', which has no MTHDS structure to project"
    if isinstance(refines, str) and refines:
        # A native base is always materialized in the crate; one missing is a cross-package reference.
        return (
            None
            if refines.startswith("native.")
            else f"refinement base '{refines}' is not available in this crate"
        )
    return _NO_STRUCTURE


def _field(name: str, field: Json, known: set[str]) -> ConceptField:
    return ConceptField(
        name=name,
        description=str(field.get("description", "")),
        type=_field_type(field, known),
        required=bool(field.get("required", False)),
        default=field.get("default_value"),
    )


def _field_type(field: Json, known: set[str]) -> FieldType:
    choices = field.get("choices")
    kind = field.get("type")
    if choices:  # an enum is a string enum whatever its type says, as in content_schema
        return FieldType(Shape.CHOICE, choices=tuple(str(choice) for choice in cast(list[Any], choices)))
    if kind is None:
        return FieldType(Shape.TEXT)
    if kind == "concept":
        return _concept_type(field.get("concept_ref"), known)
    if kind == "list":
        if field.get("item_type") == "concept" and field.get("item_concept_ref"):
            return FieldType(Shape.LIST, item=_concept_type(field.get("item_concept_ref"), known))
        return FieldType(Shape.LIST, item=_named_type(field.get("item_type"), "list item"))
    if kind == "dict":
        return FieldType(Shape.DICT, item=_named_type(field.get("value_type"), "dict value"))
    return FieldType(_SCALARS.get(str(kind), Shape.ANY))


def _named_type(name: Any, place: str) -> FieldType:
    """A list item's or dict value's type, named by a word: what the method leaves unsaid is `ANY`, with
    the reason the reference gives."""
    if name is None or name == "Any":
        return FieldType(Shape.ANY, imprecision=f"{place} type unspecified")
    if name in _SCALARS:
        return FieldType(_SCALARS[str(name)])
    if name == "list":
        unsaid = FieldType(Shape.ANY, imprecision=f"nested {place} list item type unspecified")
        return FieldType(Shape.LIST, item=unsaid)
    if name == "dict":
        unsaid = FieldType(Shape.ANY, imprecision=f"nested {place} dict value type unspecified")
        return FieldType(Shape.DICT, item=unsaid)
    if name == "concept":
        return FieldType(Shape.ANY, imprecision=f"{place} concept type carries no concept_ref")
    return FieldType(Shape.ANY, imprecision=f"{place} type '{name}' is not a recognized field type")


def _concept_type(ref: Any, known: set[str]) -> FieldType:
    if not ref:
        return FieldType(Shape.ANY, imprecision="concept field without concept_ref")
    # A concept the crate does not hold (a cross-package reference) has no type to name.
    return FieldType(Shape.CONCEPT, concept_ref=ref) if ref in known else FieldType(Shape.ANY)


def type_names(
    concepts: Iterable[CodegenConcept],
    *,
    qualified: Callable[[str, str], str],
    reserved: frozenset[str],
    symbols: Callable[[str], set[str]] = lambda name: {name},
) -> dict[str, str]:
    """A unique name per concept ref (see the module docstring). `symbols(name)`: every identifier a
    concept named `name` declares (TypeScript's type also declares `<name>Schema`)."""
    ordered = sorted(concepts, key=lambda concept: concept.ref)
    codes = Counter(concept.code for concept in ordered)
    candidates = {
        concept.ref: concept.code if codes[concept.code] == 1 else qualified(concept.domain, concept.code)
        for concept in ordered
    }
    taken = set(reserved)
    names: dict[str, str] = {}
    spelled = Counter(candidates.values())
    for ref, candidate in candidates.items():  # first, every candidate that is its own alone
        if spelled[candidate] == 1 and not symbols(candidate) & taken:
            names[ref] = candidate
            taken |= symbols(candidate)
    wanted = set(candidates.values())
    for ref, candidate in candidates.items():  # then the first of each spelling shared, the others numbered
        if ref in names:
            continue
        if not symbols(candidate) & taken:
            names[ref] = candidate
            taken |= symbols(candidate)
            continue
        suffix = 2
        while symbols(f"{candidate}{suffix}") & taken or f"{candidate}{suffix}" in wanted:
            suffix += 1
        names[ref] = f"{candidate}{suffix}"
        taken |= symbols(names[ref])
    return names


def in_base_order(concepts: list[CodegenConcept]) -> list[CodegenConcept]:
    """`concepts` in their order, each base moved before the concepts refining it (classes need it)."""
    by_ref = {concept.ref: concept for concept in concepts}
    ordered: list[CodegenConcept] = []
    placed: set[str] = set()

    def place(concept: CodegenConcept) -> None:
        if concept.ref in placed:
            return
        placed.add(concept.ref)
        if concept.base_ref is not None and concept.base_ref in by_ref:
            place(by_ref[concept.base_ref])
        ordered.append(concept)

    for concept in concepts:
        place(concept)
    return ordered


def reachable(concepts: list[CodegenConcept], roots: Iterable[str]) -> set[str]:
    """The refs of `roots` and of every concept their definitions name, transitively."""
    by_ref = {concept.ref: concept for concept in concepts}
    found: set[str] = set()
    pending = [ref for ref in roots if ref in by_ref]
    while pending:
        ref = pending.pop()
        if ref not in found:
            found.add(ref)
            pending += [named for named in by_ref[ref].concept_refs() if named in by_ref]
    return found
