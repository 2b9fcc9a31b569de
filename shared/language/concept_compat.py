"""Concept compatibility: does a produced concept satisfy a wanted one (mthds.md §1.7). Pure."""

from __future__ import annotations

from shared.language.blueprint import FieldType
from shared.language.library import Library
from shared.language.natives import NATIVE_DOMAIN

DYNAMIC = f"{NATIVE_DOMAIN}.Dynamic"
ANYTHING = f"{NATIVE_DOMAIN}.Anything"
TEXT = f"{NATIVE_DOMAIN}.Text"
MARKDOWN = f"{NATIVE_DOMAIN}.Markdown"
IMAGE = f"{NATIVE_DOMAIN}.Image"


def content_key(library: Library, ref: str) -> str:
    """Identity of a concept's content class: natives and structured concepts are their own class;
    a concept without structure takes its native parent's class (description-only ones are Text)."""
    concept = library.concepts.get(ref)
    if concept is None or concept.is_native or concept.structure is not None or concept.refines is None:
        return ref
    parent = library.concepts.get(concept.refines)
    if parent is not None and parent.is_native:
        return content_key(library, parent.ref)
    return ref


def satisfies(library: Library, produced: str, wanted: str, *, strict: bool = False) -> bool:
    """Whether a value of concept `produced` is accepted where `wanted` is declared."""
    if DYNAMIC in (produced, wanted) or wanted == ANYTHING or produced == wanted:
        return True
    produced_lineage = library.lineage(produced)
    if wanted in produced_lineage:
        return True
    if MARKDOWN in library.lineage(wanted):
        return False  # only Markdown's own lineage is a Markdown
    if content_key(library, produced) == content_key(library, wanted):
        return True
    wanted_lineage = library.lineage(wanted)
    shared_parents = set(produced_lineage[1:]) & set(wanted_lineage[1:])
    if any(not library.concepts[parent].is_native for parent in shared_parents if parent in library.concepts):
        return True
    produced_fields = library.structure_of(produced)
    wanted_fields = library.structure_of(wanted)
    if produced_fields is not None and produced_fields == wanted_fields:
        return True
    if strict or produced_fields is None:
        return False
    # Non-strict wiring also accepts a structure holding a field of the wanted concept (Page → Image).
    domain = library.concepts[produced].domain if produced in library.concepts else NATIVE_DOMAIN
    for blueprint in produced_fields.values():
        if blueprint.type is FieldType.CONCEPT and blueprint.concept_ref is not None:
            field_ref = library.resolve_concept(blueprint.concept_ref, domain)
            if field_ref is not None and field_ref != produced and wanted in library.lineage(field_ref):
                return True
    return False
