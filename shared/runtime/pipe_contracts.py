"""Each pipe's declared inputs and output, parsed and resolved once per run. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from shared.language.concept_spec import ConceptSpec, parse_concept_spec
from shared.language.library import Library, PipeEntry
from shared.language.natives import NATIVE_DOMAIN

ANYTHING = f"{NATIVE_DOMAIN}.Anything"


@dataclass(frozen=True, slots=True)
class Declared:
    """One declared spec with its resolved concept (`native.Anything` if it resolves nowhere)."""

    spec: ConceptSpec
    concept: str


@dataclass(frozen=True, slots=True)
class PipeContract:
    inputs: dict[str, Declared]
    output: Declared


class PipeContracts:
    """Contracts of one library's pipes, cached: a batch of 10,000 items parses each spec once."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self._cache: dict[str, PipeContract] = {}

    def of(self, entry: PipeEntry) -> PipeContract:
        cached = self._cache.get(entry.ref)
        if cached is None:
            cached = PipeContract(
                {name: self._declared(entry, text, False) for name, text in entry.input_specs().items()},
                self._declared(entry, entry.blueprint.output, True),
            )
            self._cache[entry.ref] = cached
        return cached

    def _declared(self, entry: PipeEntry, text: str, is_output: bool) -> Declared:
        spec = parse_concept_spec(text, is_output=is_output)  # validated before any run
        return Declared(spec, self.library.resolve_concept(spec.ref, entry.domain) or ANYTHING)
