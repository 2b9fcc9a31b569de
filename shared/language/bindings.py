"""Static binding derivation: walk a dotted path through declared structures (mthds.md §2.11). Pure."""

from __future__ import annotations

from dataclasses import replace

from shared.language.blueprint import FieldBlueprint, FieldType
from shared.language.concept_compat import content_key
from shared.language.concept_spec import Multiplicity
from shared.language.library import Library
from shared.language.natives import LEAF_NATIVES, NATIVE_DOMAIN, SHAPELESS_NATIVES
from shared.language.slots import UNKNOWN, Slot

_SCALAR_NATIVE = {
    FieldType.TEXT: "Text",
    FieldType.NUMBER: "Number",
    FieldType.INTEGER: "Number",
    FieldType.BOOLEAN: "YesNo",
    FieldType.DATE: "Date",
    FieldType.DATETIME: "Date",
    FieldType.TIME: "Time",
    FieldType.DICT: "JSON",
}
_LEAF_REFS = frozenset(f"{NATIVE_DOMAIN}.{code}" for code in LEAF_NATIVES)
_SHAPELESS_REFS = frozenset(f"{NATIVE_DOMAIN}.{code}" for code in SHAPELESS_NATIVES)


class BindingPathFault(ValueError):
    """The path cannot be walked through the declared structures."""


def walk_binding(library: Library, root: Slot, segments: list[str]) -> Slot:
    """The slot reached by following `segments` from `root`; raises `BindingPathFault`."""
    current = root
    crossed_list = False
    for depth, segment in enumerate(segments):
        if current.concept is None or current.concept in _SHAPELESS_REFS:
            return UNKNOWN
        if current.is_list:
            crossed_list = True  # the rest applies to every item; results flatten into one list
        concept = current.concept
        where = ".".join(segments[: depth + 1])
        if concept in _LEAF_REFS or content_key(library, concept) in _LEAF_REFS:
            msg = f"'{where}': {_code(concept)} holds its value whole; no field follows it"
            raise BindingPathFault(msg)
        structure = library.structure_of(concept)
        if structure is None:
            msg = f"'{where}': {_code(concept)} has no fields"
            raise BindingPathFault(msg)
        field = structure.get(segment)
        if field is None:
            known = ", ".join(sorted(structure))
            msg = f"'{where}': {_code(concept)} has no field '{segment}' (fields: {known})"
            raise BindingPathFault(msg)
        domain = library.concepts[concept].domain
        current = _field_slot(library, field, domain, maybe_absent=current.maybe_absent)
    # A list is never absent: items holding nothing are dropped, a list field holding nothing binds
    # `[]`, and so does a skipped binding (mthds.md §2.11 rule 4; the reference's rule D4).
    if crossed_list:
        return Slot(current.concept, Multiplicity.VARIABLE)
    return replace(current, maybe_absent=False) if current.is_list else current


def _field_slot(library: Library, field: FieldBlueprint, domain: str, *, maybe_absent: bool) -> Slot:
    absent = maybe_absent or not field.required
    kind = field.effective_type
    if kind is FieldType.CONCEPT:
        return Slot(_resolve(library, field.concept_ref, domain), maybe_absent=absent)
    if kind is FieldType.LIST:
        item = field.item_type or "text"
        if item == "concept":
            ref = _resolve(library, field.item_concept_ref, domain)
        elif item in {kind.value for kind in FieldType}:
            ref = f"{NATIVE_DOMAIN}.{_SCALAR_NATIVE.get(FieldType(item), 'JSON')}"
        else:
            ref = _resolve(library, item, domain)
        return Slot(ref, Multiplicity.VARIABLE, maybe_absent=absent)
    return Slot(f"{NATIVE_DOMAIN}.{_SCALAR_NATIVE[kind]}", maybe_absent=absent)


def _resolve(library: Library, reference: str | None, domain: str) -> str | None:
    return library.resolve_concept(reference, domain) if reference else None


def _code(ref: str) -> str:
    return ref.rpartition(".")[2]
