"""Which deck model a model-backed pipe calls: the `model` it names, else its operator's default for its
output (mthds.md §2). Pure.

The validator checks these choices against the service's deck and the worker's operators resolve the
same defaults, so a method that validates finds its models at run time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, cast

from shared.language.concept_compat import DYNAMIC
from shared.language.concept_spec import ConceptSpec
from shared.language.library import Library
from shared.language.model_deck import DeckModel, ModelDeck, ModelFamily
from shared.language.natives import NATIVE_DOMAIN
from shared.language.pipe_blueprints import (
    PipeDocGen,
    PipeExtract,
    PipeImgGen,
    PipeJudge,
    PipeLLM,
    PipeSearch,
    PipeStructure,
)

# The deck defaults of mthds.md §2 (`for_text` / `for_object` and each operator's own), as the built-in
# deck names them.
DEFAULT_FOR_TEXT: Final = "@default-general"
DEFAULT_FOR_OBJECT: Final = "@default-structured"
DEFAULT_JUDGMENT: Final = "@default-judgment"
DEFAULT_EXTRACT_DOCUMENT: Final = "@default-extract-document"
DEFAULT_EXTRACT_IMAGE: Final = "@default-extract-image"
DEFAULT_IMG_GEN: Final = "@default-general"
DEFAULT_SEARCH: Final = "@default-search"

_TEXT: Final = f"{NATIVE_DOMAIN}.Text"
_FAMILY: dict[type[Any], ModelFamily] = {
    PipeLLM: ModelFamily.LLM,
    PipeStructure: ModelFamily.LLM,
    PipeJudge: ModelFamily.JUDGMENT,
    PipeExtract: ModelFamily.EXTRACT,
    PipeImgGen: ModelFamily.IMG_GEN,
    PipeSearch: ModelFamily.SEARCH,
    PipeDocGen: ModelFamily.DOC_GEN,
}

Candidate = tuple[ModelFamily, str]


@dataclass(frozen=True)
class ModelNeed:
    """One model a pipe calls: the first of `candidates` the deck resolves. `attribute` is the pipe field
    it comes from; `named` says whether the pipe wrote the reference or omitted it (a default)."""

    attribute: str
    candidates: tuple[Candidate, ...]
    named: bool

    def resolve(self, deck: ModelDeck) -> tuple[str, DeckModel] | None:
        """The handle and model the worker calls, or None when the deck serves none of the candidates."""
        for family, reference in self.candidates:
            found = deck.resolve(family, reference)
            if found is not None:
                return found
        return None


def llm_defaults(*, structured: bool) -> tuple[str, ...]:
    """PipeLLM's defaults: a structured answer prefers `@default-structured`, text `@default-general`."""
    return (DEFAULT_FOR_OBJECT, DEFAULT_FOR_TEXT) if structured else (DEFAULT_FOR_TEXT,)


def judge_defaults() -> tuple[Candidate, ...]:
    """PipeJudge's defaults: the judgment `@default-judgment`, else the LLM `@default-structured`."""
    return ((ModelFamily.JUDGMENT, DEFAULT_JUDGMENT), (ModelFamily.LLM, DEFAULT_FOR_OBJECT))


def is_text_output(library: Library, concept: str) -> bool:
    """Strictly Text-compatible: a Text refinement with Text's own structure (mthds.md §2.2)."""
    return _TEXT in library.lineage(concept) and library.structure_of(concept) == library.structure_of(_TEXT)


def llm_asks_structure(library: Library, spec: ConceptSpec, concept: str | None) -> bool | None:
    """Whether a PipeLLM with this output asks for JSON (anything but `Text` and `Text[N]`); None when the
    output's concept is not known before the run."""
    if concept is None or concept == DYNAMIC:
        return None
    text_like = is_text_output(library, concept)
    as_text = text_like and not spec.is_list
    as_choices = text_like and spec.is_list and spec.count is not None
    return not (as_text or as_choices)


def model_needs(blueprint: Any, *, structured: bool | None = None) -> tuple[ModelNeed, ...]:
    """The models `blueprint` calls (none for a pipe that calls none). `structured` is a PipeLLM's
    output kind (`llm_asks_structure`); None (unknown) asks for the defaults of both kinds."""
    family = _FAMILY.get(type(cast(object, blueprint)))
    if family is None:
        return ()
    needs: list[ModelNeed] = []
    named = _reference(getattr(blueprint, "model", None))
    if named is not None:
        needs.append(ModelNeed("model", ((family, named),), named=True))
    else:
        needs += [ModelNeed("model", defaults, named=False) for defaults in _defaults(blueprint, structured)]
    # Not called by the worker today (it structures directly), but a name the deck lacks is still a typo.
    to_structure = _reference(getattr(blueprint, "model_to_structure", None))
    if to_structure is not None:
        needs.append(ModelNeed("model_to_structure", ((family, to_structure),), named=True))
    return tuple(needs)


def _defaults(blueprint: Any, structured: bool | None) -> list[tuple[Candidate, ...]]:
    if isinstance(blueprint, PipeLLM):
        # Unknown kind: `@default-general` alone, which every kind falls back to, is what must resolve.
        references = llm_defaults(structured=bool(structured))
        return [tuple((ModelFamily.LLM, reference) for reference in references)]
    if isinstance(blueprint, PipeStructure):
        return [tuple((ModelFamily.LLM, reference) for reference in llm_defaults(structured=True))]
    if isinstance(blueprint, PipeJudge):
        return [judge_defaults()]
    if isinstance(blueprint, PipeExtract):
        # The file's bytes choose at run time (PDF or image), so both must be served.
        return [
            ((ModelFamily.EXTRACT, DEFAULT_EXTRACT_DOCUMENT),),
            ((ModelFamily.EXTRACT, DEFAULT_EXTRACT_IMAGE),),
        ]
    if isinstance(blueprint, PipeImgGen):
        return [((ModelFamily.IMG_GEN, DEFAULT_IMG_GEN),)]
    if isinstance(blueprint, PipeSearch):
        return [((ModelFamily.SEARCH, DEFAULT_SEARCH),)]
    return []  # PipeDocGen renders locally: without a `model` it calls none


def _reference(setting: object) -> str | None:
    """The reference a `model` field holds: the string itself, or a setting table's `model`."""
    if isinstance(setting, str):
        return setting
    reference = getattr(setting, "model", None)
    return reference if isinstance(reference, str) else None
