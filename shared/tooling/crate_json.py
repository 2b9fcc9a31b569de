"""The resolved library of a valid method as a crate (`POST /v1/resolve`), and its fingerprint. Pure.

A crate is the library flattened into four key-sorted maps, every reference in it fully qualified
(`domain.Code`, `domain.pipe_code`, `native.Code`), so a consumer needs no resolution rule to read it:

- `concepts`: the method's concepts as authored, with three normalizations: a concept refining a
  structured concept of the method carries that concept's fields instead of the link (a link to a
  native, or to a concept without fields, is kept); a `list` field naming its item concept directly
  (`item_type = "Stop"`) is written in the explicit form (`item_type = "concept"`,
  `item_concept_ref`); and every native concept the method uses (in a refinement, a field, a pipe's
  inputs or output), with the natives those hold, is materialized as `native.<Code>`, in the words of
  the standard's pinned set (`shared.language.pinned_natives`), as the reference materializes them;
- `pipes`: each pipe's blueprint as authored (`type` first, a signature given way to its pipe),
  concept specs and pipe refs qualified (the construct of a PipeCompose stays in its authored form,
  where the reference writes its internal `construct_blueprint`);
- `domains`: each domain's header (`code`, `description`, `system_prompt`, `main_pipe`), the first
  bundle of a domain giving it;
- `source_map`: the bundle path each concept and pipe was declared in.

The fingerprint is the SHA-256 (lowercase hex) of the canonical JSON (keys sorted at every level, no
whitespace, UTF-8, non-ASCII kept literal) of `{"concepts", "pipes", "domains"}`, exactly as the crate
carries them, so a client can recompute it from an answer. `source_map` is left out (renaming or
moving a file does not change what the method means), and so are `mthds_version` and the fingerprint
itself, as in the reference. The reference hashes its internal blueprints (with their null members)
rather than the emitted crate, so its fingerprints cannot be recomputed from its answers and never
equal ours.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from typing import Any, cast

from shared.language.concept_spec import parse_concept_spec
from shared.language.library import Library
from shared.language.natives import NATIVE_DOMAIN
from shared.language.pinned_natives import PINNED_DESCRIPTIONS, PINNED_STRUCTURES
from shared.language.report import ValidationReport

# The MTHDS standard version pipelex 0.92.2 implements (its `MTHDS_STANDARD_VERSION`), which this
# service's language follows (mthds.md: compatibility target pipelex 0.92.2).
MTHDS_VERSION = "8.0.0"

# Condition outcomes that name no pipe.
_SPECIAL_OUTCOMES = frozenset({"fail", "continue"})
# Member order of a structure field in the crate (the reference's): the rest follow as authored.
_FIELD_ORDER = (
    "description", "type", "key_type", "value_type", "item_type", "concept_ref", "item_concept_ref",
    "choices", "default_value", "required", "hints",
)  # fmt: skip
_SCALAR_ITEM_TYPES = frozenset({"text", "str", "integer", "number", "boolean", "date", "datetime", "time"})
_NON_CONCEPT_ITEM_TYPES = _SCALAR_ITEM_TYPES | {"concept", "list", "dict", "any", "Any"}

Json = dict[str, Any]


def resolved_crate(report: ValidationReport) -> Json:
    """The crate of a valid method, keys in the reference's order: `mthds_version`, `concepts`,
    `pipes`, `domains`, `source_map`, `fingerprint`."""
    library = report.library
    if library is None:
        msg = "resolved_crate needs a valid report, which carries its library"
        raise ValueError(msg)
    concepts: dict[str, Json] = {}
    pipes: dict[str, Json] = {}
    domains: dict[str, Json] = {}
    source_map: dict[str, str] = {}
    for bundle in report.bundle_blueprints:
        domain = str(bundle["domain"])
        source = bundle.get("source")
        if domain not in domains:
            domains[domain] = _domain(bundle)
        for code, concept in cast(dict[str, Json], bundle.get("concept", {})).items():
            ref = f"{domain}.{code}"
            concepts[ref] = _concept(library, _without_nulls(concept), domain)
            if source is not None:
                source_map[ref] = str(source)
        for code, pipe in cast(dict[str, Json], bundle.get("pipe", {})).items():
            ref = f"{domain}.{code}"
            if ref in pipes and (pipes[ref]["type"] != "PipeSignature" or "type" not in pipe):
                continue  # a signature gives way to its pipe, wherever each is declared (mthds.md §1.8)
            pipes[ref] = _pipe(library, _without_nulls(pipe), domain)
            if source is not None:
                source_map[ref] = str(source)
    _flatten_refinements(concepts)
    concepts.update(_used_natives(concepts, pipes))
    crate: Json = {
        "mthds_version": MTHDS_VERSION,
        "concepts": dict(sorted(concepts.items())),
        "pipes": dict(sorted(pipes.items())),
        "domains": dict(sorted(domains.items())),
        "source_map": dict(sorted(source_map.items())),
    }
    crate["fingerprint"] = crate_fingerprint(crate)
    return crate


def canonical_json(value: Any) -> bytes:
    """Canonical JSON bytes: keys sorted at every level, no whitespace, UTF-8 with non-ASCII literal."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def crate_fingerprint(crate: Json) -> str:
    """SHA-256 hex of the canonical JSON of the crate's `concepts`, `pipes` and `domains`."""
    payload = {key: crate[key] for key in ("concepts", "pipes", "domains")}
    return hashlib.sha256(canonical_json(payload)).hexdigest()


# -- domains and concepts ------------------------------------------------------------------------


def _domain(bundle: Json) -> Json:
    header = {"code": bundle["domain"]}
    for key in ("description", "system_prompt", "main_pipe"):
        if bundle.get(key) is not None:
            header[key] = bundle[key]
    return header


def _concept(library: Library, concept: Json, domain: str) -> Json:
    qualified = dict(concept)
    if "refines" in qualified:
        qualified["refines"] = _concept_ref(library, str(qualified["refines"]), domain)
    structure = qualified.get("structure")
    if isinstance(structure, dict):
        qualified["structure"] = {
            name: _field(library, field, domain) for name, field in cast(dict[str, Json], structure).items()
        }
    return qualified


def _field(library: Library, field: Json, domain: str) -> Json:
    qualified = dict(field)
    item_type = qualified.get("item_type")
    if isinstance(item_type, str) and item_type not in _NON_CONCEPT_ITEM_TYPES:
        qualified["item_type"] = "concept"  # `item_type = "Stop"` names its concept directly
        qualified["item_concept_ref"] = item_type
    for key in ("concept_ref", "item_concept_ref"):
        if key in qualified:
            qualified[key] = _concept_ref(library, str(qualified[key]), domain)
    ordered = {key: qualified[key] for key in _FIELD_ORDER if key in qualified}
    return ordered | {key: value for key, value in qualified.items() if key not in ordered}


def _concept_ref(library: Library, reference: str, domain: str) -> str:
    if "->" in reference:
        return reference  # a cross-package reference has no canonical form here (never validates anyway)
    resolved = library.resolve_concept(reference, domain)
    if resolved is not None:
        return resolved
    head, _, code = reference.rpartition(".")
    return reference if head else f"{domain}.{code}"


def _flatten_refinements(concepts: dict[str, Json]) -> None:
    """A concept refining a structured concept of the method takes its fields in place of the link."""
    for ref, concept in list(concepts.items()):
        structure = _inherited_structure(concepts, concept.get("refines"), seen={ref})
        if structure is not None:
            flattened = {key: value for key, value in concept.items() if key != "refines"}
            concepts[ref] = _before_hints(flattened | {"structure": structure})


def _inherited_structure(concepts: dict[str, Json], base: Any, seen: set[str]) -> Json | None:
    while isinstance(base, str) and base not in seen and base in concepts:
        seen.add(base)
        structure = concepts[base].get("structure")
        if isinstance(structure, dict):
            return cast(Json, structure)
        base = concepts[base].get("refines")
    return None  # native-backed, field-less or unknown base: the link stays


def _before_hints(concept: Json) -> Json:
    ordered = {key: concept[key] for key in ("description", "structure", "refines") if key in concept}
    return ordered | {key: value for key, value in concept.items() if key not in ordered}


# -- pipes ---------------------------------------------------------------------------------------


def _pipe(library: Library, pipe: Json, domain: str) -> Json:
    qualified = dict(pipe)
    qualified.setdefault("type", "PipeSignature")  # a signature is a typeless table as authored
    inputs = cast(dict[str, Any], qualified.pop("inputs", {}))
    if inputs:  # a pipe without inputs has no `inputs` member, as authored
        qualified["inputs"] = {name: _input(library, decl, domain) for name, decl in inputs.items()}
    qualified["output"] = _spec(library, str(qualified["output"]), domain)
    kind = qualified["type"]
    if kind == "PipeSequence":
        qualified["steps"] = [_step(step, domain) for step in cast(list[Json], qualified["steps"])]
    elif kind == "PipeParallel":
        qualified["branches"] = [_step(branch, domain) for branch in cast(list[Json], qualified["branches"])]
    elif kind == "PipeCondition":
        outcomes = cast(dict[str, str], qualified["outcomes"])
        qualified["outcomes"] = {key: _outcome(target, domain) for key, target in outcomes.items()}
        qualified["default_outcome"] = _outcome(str(qualified["default_outcome"]), domain)
    elif kind == "PipeBatch":
        qualified["branch_pipe_code"] = _pipe_ref(str(qualified["branch_pipe_code"]), domain)
    head = {key: qualified[key] for key in ("type", "description", "inputs", "output") if key in qualified}
    return head | {key: value for key, value in qualified.items() if key not in head}


def _input(library: Library, decl: Any, domain: str) -> Any:
    if isinstance(decl, dict):
        table = cast(Json, decl)
        return table | {"concept": _spec(library, str(table["concept"]), domain)}
    return _spec(library, str(decl), domain)


def _spec(library: Library, text: str, domain: str) -> str:
    spec = parse_concept_spec(text)
    return replace(spec, ref=_concept_ref(library, spec.ref, domain)).render()


def _step(step: Json, domain: str) -> Json:
    if "pipe" not in step:
        return step  # a binding step names a path in working memory, not a pipe
    return step | {"pipe": _pipe_ref(str(step["pipe"]), domain)}


def _outcome(target: str, domain: str) -> str:
    return target if target in _SPECIAL_OUTCOMES else _pipe_ref(target, domain)


def _pipe_ref(reference: str, domain: str) -> str:
    return reference if "." in reference or "->" in reference else f"{domain}.{reference}"


# -- natives -------------------------------------------------------------------------------------


def _used_natives(concepts: dict[str, Json], pipes: dict[str, Json]) -> dict[str, Json]:
    """Every native the method uses, with the natives their own structures hold."""
    pending = [ref for concept in concepts.values() for ref in _concept_refs_of(concept)]
    for pipe in pipes.values():
        specs = [_spec_text(decl) for decl in cast(dict[str, Any], pipe.get("inputs", {})).values()]
        pending += [parse_concept_spec(spec).ref for spec in [*specs, str(pipe["output"])]]
    natives: dict[str, Json] = {}
    while pending:
        ref = pending.pop()
        domain, _, code = ref.rpartition(".")
        if domain != NATIVE_DOMAIN or ref in natives or code not in PINNED_DESCRIPTIONS:
            continue
        natives[ref] = _native(code)
        pending += _concept_refs_of(natives[ref])
    return natives


def _spec_text(decl: Any) -> str:
    return str(cast(Json, decl)["concept"]) if isinstance(decl, dict) else str(decl)


def _native(code: str) -> Json:
    concept: Json = {"description": PINNED_DESCRIPTIONS[code]}
    structure = PINNED_STRUCTURES.get(code)
    if structure is not None:
        dumped = {name: field.model_dump(mode="json", exclude_none=True) for name, field in structure.items()}
        concept["structure"] = {name: _native_field(field) for name, field in dumped.items()}
    return concept


def _native_field(field: Json) -> Json:
    """A pinned field in the crate's member order (its concept refs are pinned qualified)."""
    ordered = {key: field[key] for key in _FIELD_ORDER if key in field}
    return ordered | {key: value for key, value in field.items() if key not in ordered}


def _concept_refs_of(concept: Json) -> list[str]:
    refs = [str(concept["refines"])] if "refines" in concept else []
    structure = concept.get("structure")
    if isinstance(structure, dict):
        for field in cast(dict[str, Json], structure).values():
            refs += [str(field[key]) for key in ("concept_ref", "item_concept_ref") if key in field]
    return refs


def _without_nulls(value: Any) -> Any:
    """`value` with null members dropped at every level (a non-finite float dumps as null)."""
    if isinstance(value, dict):
        members = cast(Json, value)
        return {key: _without_nulls(item) for key, item in members.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in cast(list[Any], value)]
    return value
