"""How stuffs of a working memory appear to templates (`TemplateStuff`), per library. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shared.language.library import Library
from shared.language.natives import NATIVE_DOMAIN
from shared.language.template_shapes import ConceptShapes
from shared.language.template_stuff import TemplateStuff
from shared.runtime.stuff import Stuff


class TemplateViews:
    """Builds template variables from stuffs; caches each concept's native base.

    With `strict_fields` (real runs), reading a field the stuff's concept does not declare fails the render
    (`template_field_views`); dry runs read it as nothing, as the reference does, so verdicts stay its own.
    """

    def __init__(self, library: Library, *, strict_fields: bool = True) -> None:
        self.library = library
        self._bases: dict[str, str] = {}
        self._shapes = ConceptShapes(library) if strict_fields else None

    def view(self, stuff: Stuff) -> TemplateStuff:
        return TemplateStuff(
            concept_code=stuff.concept.rpartition(".")[2],
            content=stuff.content,
            is_list=stuff.is_list,
            stuff_name=stuff.name,
            stuff_code=stuff.code,
            native_base=self.native_base(stuff.concept),
            shape=self._shapes.shape_of(stuff.concept) if self._shapes is not None else None,
        )

    def variables(self, stuffs: Iterable[Stuff]) -> dict[str, Any]:
        return {stuff.name: self.view(stuff) for stuff in stuffs}

    def native_base(self, concept: str) -> str:
        """The native concept whose content class `concept` uses ("Structured" for a structure)."""
        cached = self._bases.get(concept)
        if cached is not None:
            return cached
        base = ""
        for ancestor in self.library.lineage(concept):
            held = self.library.concepts.get(ancestor)
            if ancestor.startswith(f"{NATIVE_DOMAIN}."):
                base = ancestor.rpartition(".")[2]
                break
            if held is not None and held.structure is not None:
                base = "Structured"
                break
        base = base or ("Structured" if self.library.structure_of(concept) is not None else "Text")
        self._bases[concept] = base
        return base
