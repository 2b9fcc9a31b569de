"""Library assembly (stage 3): merge parsed bundles, resolve concept and pipe references. Pure.

Concepts and pipes are keyed `domain.Code` / `domain.pipe_code`. A signature is replaced by the
concrete pipe of the same ref when their contracts agree (mthds.md §1.8); load order never matters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.language.blueprint import BundleBlueprint, ConceptBlueprint, FieldBlueprint, FieldType
from shared.language.issues import NAME_CONFLICT_CODE, Category, ErrorType, Issue
from shared.language.natives import NATIVE_CODES, NATIVE_DOMAIN, NATIVE_REFINES, NATIVE_STRUCTURES
from shared.language.pipe_blueprints import InputTable, PipeBlueprint, PipeSignature


@dataclass(frozen=True)
class Concept:
    """A concept of the library; `structure` is its own fields (None: inherits or has no structure)."""

    ref: str
    code: str
    domain: str
    description: str
    structure: dict[str, FieldBlueprint] | None = None
    refines: str | None = None
    file: str | None = None

    @property
    def is_native(self) -> bool:
        return self.domain == NATIVE_DOMAIN


@dataclass(frozen=True)
class PipeEntry:
    """A pipe of the library with where it was declared."""

    ref: str
    code: str
    domain: str
    blueprint: PipeBlueprint
    file: str | None
    line: int | None
    system_prompt: str | None = None

    @property
    def is_signature(self) -> bool:
        return isinstance(self.blueprint, PipeSignature)

    def input_specs(self) -> dict[str, str]:
        """Declared inputs as spec strings (the expanded table form collapsed to its concept)."""
        return {
            name: decl.concept if isinstance(decl, InputTable) else decl
            for name, decl in self.blueprint.inputs.items()
        }


@dataclass
class Library:
    """Every concept and pipe loaded together, with lookups that follow the resolution rules of §1.7."""

    concepts: dict[str, Concept] = field(default_factory=dict[str, Concept])
    pipes: dict[str, PipeEntry] = field(default_factory=dict[str, PipeEntry])
    issues: list[Issue] = field(default_factory=list[Issue])
    # Content models built from this library's concepts, shared by every validator of it (a library
    # is not changed once assembled, so a model built once stays right).
    content_models: dict[str, Any] = field(default_factory=dict[str, Any], compare=False, repr=False)

    def resolve_concept(self, reference: str, domain: str) -> str | None:
        """The `domain.Code` a concept reference names from `domain`, or None."""
        if "->" in reference:
            return None  # cross-package references need a package manager this service does not have
        head, _, code = reference.rpartition(".")
        if head:
            ref = f"{head}.{code}"
            return ref if ref in self.concepts else None
        if code in NATIVE_CODES:
            return f"{NATIVE_DOMAIN}.{code}"
        ref = f"{domain}.{code}"
        return ref if ref in self.concepts else None

    def resolve_pipe(self, reference: str, domain: str) -> str | None:
        """The `domain.pipe_code` a pipe reference names from `domain`, or None."""
        if "->" in reference:
            return None
        ref = reference if "." in reference else f"{domain}.{reference}"
        return ref if ref in self.pipes else None

    def structure_of(self, ref: str) -> dict[str, FieldBlueprint] | None:
        """A concept's fields, inherited through `refines` (None when it has no structure)."""
        seen: set[str] = set()
        current: str | None = ref
        while current is not None and current not in seen:
            seen.add(current)
            concept = self.concepts.get(current)
            if concept is None:
                return None
            if concept.structure is not None:
                return concept.structure
            current = concept.refines
        return None

    def lineage(self, ref: str) -> list[str]:
        """`ref` then every concept it refines, nearest first (cycles cut)."""
        chain: list[str] = []
        current: str | None = ref
        while current is not None and current not in chain:
            chain.append(current)
            concept = self.concepts.get(current)
            current = concept.refines if concept is not None else None
        return chain


def assemble_library(bundles: list[BundleBlueprint], lines: dict[tuple[str, str, str], int]) -> Library:
    """Merge `bundles` into one library and resolve every concept reference they hold."""
    library = Library()
    for code in NATIVE_CODES:
        parent = NATIVE_REFINES.get(code)
        library.concepts[f"{NATIVE_DOMAIN}.{code}"] = Concept(
            ref=f"{NATIVE_DOMAIN}.{code}",
            code=code,
            domain=NATIVE_DOMAIN,
            description=code,
            structure=NATIVE_STRUCTURES.get(code),
            refines=f"{NATIVE_DOMAIN}.{parent}" if parent else None,
        )
    _merge_concepts(library, bundles)
    _merge_pipes(library, bundles, lines)
    if not library.issues:
        _resolve_concept_references(library)
    return library


def _merge_concepts(library: Library, bundles: list[BundleBlueprint]) -> None:
    declared: dict[str, tuple[BundleBlueprint, ConceptBlueprint]] = {}
    for bundle in bundles:
        for code, blueprint in bundle.concept.items():
            ref = f"{bundle.domain}.{code}"
            if ref in declared:
                library.issues.append(
                    Issue(
                        category=Category.BLUEPRINT,
                        code=NAME_CONFLICT_CODE,
                        message=f"Concept '{ref}' is declared twice.",
                        concept=code,
                        domain=bundle.domain,
                        file=bundle.source,
                    )
                )
                continue
            declared[ref] = (bundle, blueprint)
    for ref, (bundle, blueprint) in declared.items():
        structure: dict[str, FieldBlueprint] | None = (
            blueprint.structure if isinstance(blueprint.structure, dict) else None
        )
        refines = blueprint.refines
        if structure is None and refines is None:
            refines = "Text"  # a description-only concept implicitly refines native.Text (§1.4)
        library.concepts[ref] = Concept(
            ref=ref,
            code=ref.rpartition(".")[2],
            domain=bundle.domain,
            description=blueprint.description,
            structure=structure,
            refines=refines,  # resolved below, once every concept is known
            file=bundle.source,
        )


def _merge_pipes(
    library: Library, bundles: list[BundleBlueprint], lines: dict[tuple[str, str, str], int]
) -> None:
    for bundle in bundles:
        for code, blueprint in bundle.pipe.items():
            entry = PipeEntry(
                ref=f"{bundle.domain}.{code}",
                code=code,
                domain=bundle.domain,
                blueprint=blueprint,
                file=bundle.source,
                line=lines.get((bundle.source or "", "pipe", code)),
                system_prompt=bundle.system_prompt,
            )
            existing = library.pipes.get(entry.ref)
            if existing is None:
                library.pipes[entry.ref] = entry
            elif existing.is_signature or entry.is_signature:
                concrete, signature = (entry, existing) if existing.is_signature else (existing, entry)
                if existing.is_signature and entry.is_signature:
                    concrete = existing  # two signatures collapse; their contracts must still agree
                if _contract(concrete) != _contract(signature):
                    library.issues.append(
                        Issue(
                            category=Category.BLUEPRINT,
                            code="method.signature_mismatch",
                            message=f"Pipe '{entry.ref}' does not match the contract of its signature "
                            f"(inputs and output must name the same concepts).",
                            pipe=code,
                            file=concrete.file,
                            line=concrete.line,
                        )
                    )
                library.pipes[entry.ref] = concrete
            else:
                library.issues.append(
                    Issue(
                        category=Category.BLUEPRINT,
                        code=NAME_CONFLICT_CODE,
                        message=f"Pipe '{entry.ref}' is declared twice (in {existing.file} and {entry.file}).",
                        pipe=code,
                        file=entry.file,
                        line=entry.line,
                    )
                )


def _contract(entry: PipeEntry) -> tuple[frozenset[tuple[str, str]], str]:
    def qualify(spec: str) -> str:
        return spec if "." in spec.split("[")[0] else f"{entry.domain}.{spec}"

    return frozenset((name, qualify(spec)) for name, spec in entry.input_specs().items()), qualify(
        entry.blueprint.output
    )


def _resolve_concept_references(library: Library) -> None:
    # Pipe inputs and outputs are resolved where the pipes are checked, so each fault names its pipe.
    for ref, concept in list(library.concepts.items()):
        if concept.is_native:
            continue
        refines = None
        if concept.refines is not None:
            refines = library.resolve_concept(concept.refines, concept.domain)
            if refines is None:
                _unresolved(
                    library, concept.refines, concept=concept.code, file=concept.file, field="refines"
                )
        library.concepts[ref] = Concept(
            ref=concept.ref,
            code=concept.code,
            domain=concept.domain,
            description=concept.description,
            structure=concept.structure,
            refines=refines,
            file=concept.file,
        )
        for name, blueprint in (concept.structure or {}).items():
            for target in _field_concept_refs(blueprint):
                if library.resolve_concept(target, concept.domain) is None:
                    _unresolved(
                        library, target, concept=concept.code, file=concept.file, field=f"structure.{name}"
                    )


def _field_concept_refs(blueprint: FieldBlueprint) -> list[str]:
    refs: list[str] = []
    if blueprint.type is FieldType.CONCEPT and blueprint.concept_ref is not None:
        refs.append(blueprint.concept_ref)
    if blueprint.type is FieldType.LIST and blueprint.item_type is not None:
        if blueprint.item_type == "concept" and blueprint.item_concept_ref is not None:
            refs.append(blueprint.item_concept_ref)
        elif blueprint.item_type not in {kind.value for kind in FieldType}:
            refs.append(blueprint.item_type)  # `item_type = "Stop"` names a concept directly
    return refs


def _unresolved(library: Library, reference: str, *, concept: str, file: str | None, field: str) -> None:
    library.issues.append(
        Issue(
            category=Category.BLUEPRINT,
            error_type=ErrorType.UNRESOLVED_CONCEPT,
            message=f"Concept '{concept}' refers to '{reference}', which no library declares.",
            concept=concept,
            file=file,
            field=f"concept.{concept}.{field}",
            params={"concept": reference},
        )
    )
