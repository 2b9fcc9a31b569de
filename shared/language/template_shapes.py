"""The declared fields a template may read on a concept's content, for templates' field checks. Pure.

One `FieldShape` per concept whose fields are known (a declared structure, its own or inherited through
`refines`, or a native's). Concepts that declare no fields (description only, so Text underneath;
`Dynamic`, `Anything`, `Composite`) have no shape: reads on them are never judged, statically or at run
time.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from shared.language.blueprint import FieldBlueprint, FieldType
from shared.language.library import Library
from shared.language.natives import NATIVE_DOMAIN

_TEXT = f"{NATIVE_DOMAIN}.Text"

# How close a declared field must be to a misspelled read to be suggested (difflib's ratio).
_SUGGESTION_CUTOFF = 0.6


@dataclass(frozen=True)
class FieldHolder:
    """What a field holds when it holds concept contents: the concept, and whether it is a list of them."""

    concept: str
    is_list: bool


@dataclass(frozen=True)
class FieldShape:
    """A concept's declared fields, and for those holding concept contents, which concept."""

    concept: str
    fields: frozenset[str]
    holders: dict[str, FieldHolder] = field(default_factory=dict[str, FieldHolder])
    # The shapes this one was built from, to reach the shapes of nested contents.
    index: ConceptShapes | None = field(default=None, compare=False, repr=False)

    @property
    def code(self) -> str:
        return self.concept.rpartition(".")[2]

    def has(self, name: str) -> bool:
        return name in self.fields

    def child(self, name: str) -> tuple[FieldShape, bool] | None:
        """The shape of what field `name` holds, and whether it is a list of such contents."""
        holder = self.holders.get(name)
        if holder is None or self.index is None:
            return None
        shape = self.index.shape_of(holder.concept)
        return None if shape is None else (shape, holder.is_list)

    def suggestion(self, name: str) -> str | None:
        """The declared field closest to `name`, when one is close enough to be a likely misspelling."""
        close = difflib.get_close_matches(name, sorted(self.fields), n=1, cutoff=_SUGGESTION_CUTOFF)
        return close[0] if close else None

    def describe_missing(self, name: str) -> str:
        """'the concept 'X' has no field 'n'; did you mean 'm'?' (the suggestion when there is one)."""
        text = f"the concept '{self.code}' has no field '{name}'"
        suggestion = self.suggestion(name)
        if suggestion is not None:
            return f"{text}; did you mean '{suggestion}'?"
        return f"{text} (its fields: {', '.join(sorted(self.fields))})"


class ConceptShapes:
    """The field shapes of one library's concepts, built on first use and cached."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self._shapes: dict[str, FieldShape | None] = {}

    def shape_of(self, concept: str) -> FieldShape | None:
        if concept not in self._shapes:
            self._shapes[concept] = self._build(concept)
        return self._shapes[concept]

    def _build(self, concept: str) -> FieldShape | None:
        structure = self.library.structure_of(concept)
        held = self.library.concepts.get(concept)
        if structure is None or held is None or self._is_bare_text(concept):
            return None
        holders: dict[str, FieldHolder] = {}
        for name, blueprint in structure.items():
            holder = self._holder(blueprint, self._declaring_domain(concept))
            if holder is not None:
                holders[name] = holder
        return FieldShape(concept, frozenset(structure), holders, self)

    def _is_bare_text(self, concept: str) -> bool:
        # A description-only concept refines Text implicitly (mthds.md §1.4): its author declared no
        # fields, so a read on it may be meant for a structure still to come; it is never judged.
        return concept != _TEXT and self._structure_holder(concept) == _TEXT

    def _structure_holder(self, concept: str) -> str | None:
        for ancestor in self.library.lineage(concept):
            held = self.library.concepts.get(ancestor)
            if held is not None and held.structure is not None:
                return ancestor
        return None

    def _declaring_domain(self, concept: str) -> str:
        # Field concept references resolve from the domain of the concept that declares the structure.
        holder = self._structure_holder(concept)
        return (holder or concept).rpartition(".")[0]

    def _holder(self, blueprint: FieldBlueprint, domain: str) -> FieldHolder | None:
        reference: str | None = None
        is_list = False
        if blueprint.type is FieldType.CONCEPT:
            reference = blueprint.concept_ref
        elif blueprint.type is FieldType.LIST and blueprint.item_type is not None:
            is_list = True
            if blueprint.item_type == "concept":
                reference = blueprint.item_concept_ref
            elif blueprint.item_type not in {kind.value for kind in FieldType}:
                reference = blueprint.item_type  # `item_type = "Stop"` names a concept directly
        if reference is None:
            return None  # a scalar, a dict or a list of scalars: what follows is a method or a key
        resolved = self.library.resolve_concept(reference, domain)
        return None if resolved is None else FieldHolder(resolved, is_list)
