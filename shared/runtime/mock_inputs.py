"""Mock inputs for a dry run: one value per declared input, valid for its concept (mthds.md §6.1 step 1).
Pure and deterministic for a seed; `X[]` gets two items, `X[N]` gets N.
"""

from __future__ import annotations

from typing import Any, Final

from shared.language.content_schema import concept_json_schema
from shared.language.library import Library, PipeEntry
from shared.language.natives import NATIVE_DOMAIN
from shared.runtime.content_values import ContentRefused, ContentValidator
from shared.runtime.pipe_contracts import PipeContracts
from shared.runtime.schema_mocks import mock_from_schema
from shared.runtime.stuff import Stuff
from shared.runtime.stuff_codes import StuffCodes
from shared.runtime.working_memory import WorkingMemory

INPUT_LIST_LENGTH: Final = 2
TEXT: Final = f"{NATIVE_DOMAIN}.Text"
_FILES: Final = {f"{NATIVE_DOMAIN}.Image": "image.png", f"{NATIVE_DOMAIN}.Document": "document.pdf"}


class MockInputs:
    """Builds mock input memories for the pipes of one library."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self.validator = ContentValidator(library)
        self.contracts = PipeContracts(library)

    def memory_for(self, entry: PipeEntry, seed: str, given: WorkingMemory | None = None) -> WorkingMemory:
        """Mocks for every declared input `given` does not already hold."""
        memory = given.fork() if given is not None else WorkingMemory()
        codes = StuffCodes(f"{seed}:mock-inputs")
        for name, declared in self.contracts.of(entry).inputs.items():
            if memory.lookup(name) is not None:
                continue
            spec = declared.spec
            count = (spec.count or INPUT_LIST_LENGTH) if spec.is_list else 1
            concept, contents = self._contents(declared.concept, f"{seed}:{name}", count)
            content = {"items": contents} if spec.is_list else contents[0]
            memory.store(name, Stuff(name, codes.next_code(), concept, content, spec.is_list), main=False)
        return memory

    def _contents(self, concept: str, seed: str, count: int) -> tuple[str, list[Any]]:
        try:
            return concept, [self._one(concept, f"{seed}#{index}") for index in range(count)]
        except ContentRefused:
            # A concept whose mock cannot be built takes a Text stand-in, as in the reference.
            return TEXT, [{"text": f"DRY RUN: {concept.rpartition('.')[2]}"} for _ in range(count)]

    def _one(self, concept: str, seed: str) -> Any:
        for ancestor in self.library.lineage(concept):
            if ancestor in _FILES:
                return self.validator.validate(
                    concept, {"url": f"https://dry-run.invalid/{_FILES[ancestor]}"}
                )
        schema = concept_json_schema(self.library, concept)
        if not schema:
            return {"text": f"DRY RUN: {concept.rpartition('.')[2]}"}
        return self.validator.validate(concept, mock_from_schema(schema, seed))
