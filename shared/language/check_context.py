"""What every pipe check shares: the library, the deck, the issues found, resolved pipe contracts. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.language.concept_spec import ConceptSpec, ConceptSpecError, parse_concept_spec
from shared.language.issues import Category, ErrorType, Issue
from shared.language.library import Library, PipeEntry
from shared.language.model_deck import ModelDeck
from shared.language.slots import UNKNOWN, Slot, slot_of_spec


@dataclass(frozen=True)
class Contract:
    """A pipe's declared inputs and output, parsed and resolved (None ref: could not be resolved)."""

    inputs: dict[str, tuple[ConceptSpec, str | None]]
    output: tuple[ConceptSpec, str | None]

    def input_slot(self, name: str) -> Slot:
        spec, ref = self.inputs[name]
        return slot_of_spec(spec, ref)

    def output_slot(self) -> Slot:
        spec, ref = self.output
        return slot_of_spec(spec, ref)


@dataclass
class CheckContext:
    """Collects issues while pipes are checked; resolves and caches each pipe's contract."""

    library: Library
    deck: ModelDeck
    issues: list[Issue] = field(default_factory=list[Issue])
    _contracts: dict[str, Contract] = field(default_factory=dict[str, Contract])

    def contract(self, entry: PipeEntry) -> Contract:
        """The pipe's contract; faults in its specs are reported once, the first time it is asked for."""
        cached = self._contracts.get(entry.ref)
        if cached is not None:
            return cached
        inputs = {
            name: self._spec(entry, text, f"inputs.{name}", is_output=False)
            for name, text in entry.input_specs().items()
        }
        contract = Contract(inputs, self._spec(entry, entry.blueprint.output, "output", is_output=True))
        self._contracts[entry.ref] = contract
        return contract

    def _spec(
        self, entry: PipeEntry, text: str, where: str, *, is_output: bool
    ) -> tuple[ConceptSpec, str | None]:
        try:
            spec = parse_concept_spec(text, is_output=is_output)
        except ConceptSpecError as fault:
            self.report(entry, fault.error_type, fault.message, where, category=Category.BLUEPRINT)
            return ConceptSpec("Anything"), None
        ref = self.library.resolve_concept(spec.ref, entry.domain)
        if ref is None:
            self.report(
                entry,
                ErrorType.UNRESOLVED_CONCEPT,
                f"Pipe '{entry.code}' names the concept '{spec.ref}' in its {where}, which no library declares.",
                where,
                params={"concept": spec.ref},
            )
        return spec, ref

    def output_slot(self, entry: PipeEntry) -> Slot:
        spec, ref = self.contract(entry).output
        return slot_of_spec(spec, ref) if ref is not None else UNKNOWN

    def report(
        self,
        entry: PipeEntry,
        error_type: ErrorType | None,
        message: str,
        where: str | None = None,
        *,
        category: Category = Category.PIPE,
        code: str | None = None,
        variables: tuple[str, ...] = (),
        params: dict[str, Any] | None = None,
    ) -> None:
        self.issues.append(
            Issue(
                category=category,
                error_type=error_type,
                code=code,
                message=message,
                file=entry.file,
                pipe=entry.code,
                domain=entry.domain,
                field=f"pipe.{entry.code}.{where}" if where else f"pipe.{entry.code}",
                line=entry.line,
                variable_names=variables,
                params=params or {},
            )
        )
