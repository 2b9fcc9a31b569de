"""What a name in working memory holds, as far as static analysis knows: concept, multiplicity, absence. Pure."""

from __future__ import annotations

from dataclasses import dataclass, replace

from shared.language.concept_spec import ConceptSpec, Multiplicity, Presence


@dataclass(frozen=True, slots=True)
class Slot:
    """A statically known value. `concept` None means unknown (after an earlier fault): it fits anything."""

    concept: str | None
    multiplicity: Multiplicity = Multiplicity.SINGLE
    count: int | None = None
    maybe_absent: bool = False

    @property
    def is_list(self) -> bool:
        return self.multiplicity is not Multiplicity.SINGLE

    def as_list(self) -> Slot:
        return replace(self, multiplicity=Multiplicity.VARIABLE, count=None)

    def as_item(self) -> Slot:
        return replace(self, multiplicity=Multiplicity.SINGLE, count=None, maybe_absent=False)

    def describe(self) -> str:
        suffix = {Multiplicity.SINGLE: "", Multiplicity.VARIABLE: "[]"}.get(
            self.multiplicity, f"[{self.count}]"
        )
        return f"{self.concept or 'unknown'}{suffix}"


UNKNOWN = Slot(None)


def slot_of_spec(spec: ConceptSpec, concept_ref: str | None) -> Slot:
    """The slot a declared spec promises (an optional spec may be absent)."""
    return Slot(concept_ref, spec.multiplicity, spec.count, spec.presence is Presence.OPTIONAL)


def multiplicity_fits(produced: Slot, wanted: ConceptSpec) -> bool:
    """Single vs list must agree; a fixed count wanted must be produced exactly."""
    if produced.concept is None:
        return True
    if produced.is_list != wanted.is_list:
        return False
    if wanted.multiplicity is Multiplicity.FIXED:
        return produced.multiplicity is Multiplicity.FIXED and produced.count == wanted.count
    return True
