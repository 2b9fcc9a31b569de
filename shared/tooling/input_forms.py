"""The MTHDS `input_form` and `output_form` of a valid method's pipes: one field descriptor per input
slot, one for the output, in the standard's closed vocabulary (input-form descriptor page). Pure.

A descriptor states what a value IS (`kind`: text, prose, date, number, boolean, enum, document,
image, object, list, unknown) from authored facts only: the concept's identity, its refinement
chain, its structure fields, the slot's presence and multiplicity. It never reads a JSON Schema.
`unknown` is the honest answer for a shape with no other kind (a map, a shapeless native, a cycle).

Wire rules the builders keep: a member that does not apply is absent (never `null`); `presence` and
`gating` are stated on top-level input fields only; a list's `item` carries no `name`; an output node
is named `output`; `kind` and `name` lead, the other members follow the standard's order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from shared.language.blueprint import FieldBlueprint, FieldType
from shared.language.library import Concept, Library, PipeEntry
from shared.language.natives import NATIVE_DOMAIN
from shared.language.pinned_natives import PINNED_DESCRIPTIONS, PINNED_STRUCTURES
from shared.language.pipe_blueprints import InputTable

Node = dict[str, Any]

OUTPUT_NODE_NAME = "output"
_MEMBER_ORDER = (
    *("kind", "name", "title", "concept_ref", "refines", "description", "required", "presence"),
    *("gating", "default_value", "examples", "hints", "min_length", "max_length", "pattern", "format"),
    *("datetime", "integer", "minimum", "maximum", "exclusive_minimum", "exclusive_maximum"),
    *("choices", "fields", "item", "item_count"),
)
_TEXT_KINDS = frozenset({"text", "prose"})
_INTENT_KINDS = {"prose": "prose", "label": "text"}  # the intent words that recast a text-valued node
_OBJECT_NATIVES = frozenset(
    {"Choice", "Rating", "Date", "Html", "JSON", "Page", "TextAndImages", "SearchResult"}
)


def node(kind: str, name: str | None, **members: Any) -> Node:
    """A descriptor with its members in wire order, `None` members left out (absent, never null)."""
    members |= {"kind": kind, "name": name}
    return {key: members[key] for key in _MEMBER_ORDER if members.get(key) is not None}


def updated(base: Node, **members: Any) -> Node:
    """`base` with `members` replaced (a `None` removes the member)."""
    return node(**{**base, **members})


def as_item(base: Node) -> Node:
    """A node in a list's `item` position: the same node without its `name`."""
    return {key: value for key, value in base.items() if key != "name"}


def merged_hints(*layers: Mapping[str, str] | None) -> dict[str, str] | None:
    """Hint layers merged key by key, farthest first, nearest winning; sorted; `None` when empty."""
    merged: dict[str, str] = {}
    for layer in layers:
        merged.update(layer or {})
    return dict(sorted(merged.items())) or None


def with_hints(base: Node, hints: Mapping[str, str] | None) -> Node:
    """Stamp a node's final hints; a known `intent` that applies to the node's value recasts text/prose."""
    if not hints:
        return base
    intent = hints.get("intent")
    text_valued = base["kind"] in _TEXT_KINDS and "format" not in base
    if intent in _INTENT_KINDS and text_valued:
        return updated(base, kind=_INTENT_KINDS[intent], hints=dict(hints))
    # `rating` / `quantity` apply to numbers, but no finer kind exists: the hint rides, the kind stays.
    return updated(base, hints=dict(hints))


@dataclass(frozen=True)
class _Authored:
    """What the bundles state about a concept that the assembled library does not keep."""

    hints: dict[str, str] | None = None
    refines_authored: bool = False
    class_backed: bool = False


_NOTHING_AUTHORED = _Authored()


def authored_concepts(bundle_blueprints: Sequence[Mapping[str, Any]]) -> dict[str, _Authored]:
    """The authored concept facts of the bundles (`ValidationReport.bundle_blueprints`), by concept ref."""
    facts: dict[str, _Authored] = {}
    for bundle in bundle_blueprints:
        concepts = cast("Mapping[str, Any]", bundle.get("concept") or {})
        for code, declared in concepts.items():
            if not isinstance(declared, Mapping):
                continue  # a shorthand `Code = "description"`: nothing beyond its description
            declared = cast("Mapping[str, Any]", declared)
            facts[f"{bundle['domain']}.{code}"] = _Authored(
                hints=declared.get("hints"),
                refines_authored="refines" in declared,
                class_backed=isinstance(declared.get("structure"), str),
            )
    return facts


class FormDeriver:
    """Derives descriptors over one valid library; `output` picks the output position's reading of
    `native.YesNo` (an object with its probability) over the input position's (a bare boolean)."""

    def __init__(self, library: Library, authored: Mapping[str, _Authored], *, output: bool) -> None:
        self.library = library
        self.authored = authored
        self.output = output

    # -- pipe positions ------------------------------------------------------------------------

    def slot(self, name: str, contract: Mapping[str, Any], slot_hints: Mapping[str, str] | None) -> Node:
        """A top-level input field from its `pipe_io_contracts` entry, stamped with the slot's facts."""
        concept = self.concept_node(name, contract["concept_ref"], frozenset())
        hints = merged_hints(concept.get("hints"), slot_hints)
        if contract["multiplicity"] == "single":
            field = with_hints(concept, hints)
        else:
            field = self._list_of(name, concept, hints, contract.get("item_count"))
        required = contract["presence"] != "optional"
        # A variable list is required yet never gates: the empty list is a legitimate value.
        gating = required and not (field["kind"] == "list" and "item_count" not in field)
        return updated(field, presence=contract["presence"], required=required, gating=gating)

    def output_field(self, contract: Mapping[str, Any]) -> Node:
        """The output node: the concept described on its own, list-wrapped when the output is plural."""
        concept = self.concept_node(OUTPUT_NODE_NAME, contract["concept_ref"], frozenset())
        hints = concept.get("hints")
        if contract["multiplicity"] == "single":
            return with_hints(concept, hints)
        return self._list_of(OUTPUT_NODE_NAME, concept, hints, contract.get("item_count"))

    @staticmethod
    def _list_of(name: str, element: Node, hints: dict[str, str] | None, item_count: int | None) -> Node:
        # The merged hints ride the list and its item; `concept_ref` names the element on both.
        return node(
            "list",
            name,
            concept_ref=element.get("concept_ref"),
            refines=element.get("refines"),
            description=element.get("description"),
            required=True,
            hints=hints,
            item=as_item(with_hints(element, hints)),
            item_count=item_count,
        )

    # -- concepts ------------------------------------------------------------------------------

    def concept_node(self, name: str, ref: str, seen: frozenset[str]) -> Node:
        """The node of a concept-typed value, without slot facts; `seen` cuts cycles of structures."""
        if ref in seen:
            return node("unknown", name, concept_ref=ref, required=True)
        seen |= {ref}
        concept = self.library.concepts.get(ref)
        if concept is None:
            return node("unknown", name, concept_ref=ref, required=True)
        if concept.is_native:
            return self._native_node(name, concept.code, seen=seen)
        authored = self.authored.get(ref, _NOTHING_AUTHORED)
        chain = self._refines_chain(ref)
        described = self._declared_node(name, concept, authored, chain, seen)
        hints = merged_hints(*(self._hints_of(link) for link in reversed(chain)), authored.hints)
        return updated(described, hints=hints) if hints else described

    def _declared_node(
        self, name: str, concept: Concept, authored: _Authored, chain: list[str], seen: frozenset[str]
    ) -> Node:
        refines = chain or None
        if authored.class_backed:
            # A structure named by a Python class: this service loads no classes, so its shape is unknown.
            return node(
                "unknown", name, concept_ref=concept.ref, refines=refines, description=concept.description
            )
        for link in (concept.ref, *chain):
            owner = self.library.concepts.get(link)
            if owner is not None and not owner.is_native and owner.structure is not None:
                fields = [
                    self._structure_field(field_name, field, owner.domain, seen)
                    for field_name, field in owner.structure.items()
                ]
                return node(
                    "object",
                    name,
                    concept_ref=concept.ref,
                    refines=refines,
                    description=concept.description,
                    required=True,
                    fields=fields,
                )
        if chain and chain[-1].startswith(f"{NATIVE_DOMAIN}."):
            code = chain[-1].removeprefix(f"{NATIVE_DOMAIN}.")
            return self._native_node(
                name,
                code,
                concept_ref=concept.ref,
                description=concept.description,
                refines=refines,
                seen=seen,
            )
        # A description-only concept (or one refining such a concept) holds a text.
        return node(
            "prose",
            name,
            concept_ref=concept.ref,
            refines=refines,
            description=concept.description,
            required=True,
        )

    def _refines_chain(self, ref: str) -> list[str]:
        """The authored refinement links, nearest first, up to a native (an implicit `Text` link is not one)."""
        chain: list[str] = []
        current = self.library.concepts.get(ref)
        while current is not None and current.refines is not None and not current.is_native:
            if not self.authored.get(current.ref, _NOTHING_AUTHORED).refines_authored:
                break
            if current.refines in chain or current.refines == ref:
                break
            chain.append(current.refines)
            current = self.library.concepts.get(current.refines)
        return chain

    def _hints_of(self, ref: str) -> dict[str, str] | None:
        authored = self.authored.get(ref)
        return authored.hints if authored is not None else None

    def _native_node(
        self,
        name: str,
        code: str,
        *,
        concept_ref: str | None = None,
        description: str | None = None,
        refines: list[str] | None = None,
        seen: frozenset[str],
    ) -> Node:
        """A native (or a concept refining one), decided by the native's identity, never by its shape."""
        members: dict[str, Any] = {
            "concept_ref": concept_ref or f"{NATIVE_DOMAIN}.{code}",
            "refines": refines,
            "description": description or PINNED_DESCRIPTIONS.get(code),
            "required": True,
        }
        if code in ("Text", "Markdown"):
            return node("prose", name, **members)
        if code == "Number":
            return node("number", name, **members, integer=False)
        if code == "YesNo" and not self.output:
            return node("boolean", name, **members)  # a caller supplies the verdict alone
        if code == "Time":
            return node("text", name, **members, format="time")
        if code in ("Document", "Image"):
            return node(code.lower(), name, **members)
        if code in _OBJECT_NATIVES or code == "YesNo":
            pinned = PINNED_STRUCTURES[code]
            fields = [
                self._structure_field(field_name, field, NATIVE_DOMAIN, seen)
                for field_name, field in pinned.items()
            ]
            return node("object", name, **members, fields=fields)
        return node("unknown", name, **members)  # Dynamic, Anything, Composite: no shape to state

    # -- structure fields ----------------------------------------------------------------------

    def _structure_field(self, name: str, field: FieldBlueprint, domain: str, seen: frozenset[str]) -> Node:
        """A nested field from its authored blueprint: never slot facts; the field's hints are final here."""
        common: dict[str, Any] = {"description": field.description, "required": field.required}
        if field.choices is not None:
            enum = node(
                "enum", name, **common, choices=list(field.choices), default_value=field.default_value
            )
            return with_hints(enum, field.hints)
        kind = field.type
        if kind is FieldType.CONCEPT:
            target = self.library.resolve_concept(field.concept_ref or "", domain)
            if target is None:
                return node("unknown", name, **common)
            concept = self.concept_node(name, target, seen)
            return updated(with_hints(concept, merged_hints(concept.get("hints"), field.hints)), **common)
        if kind is FieldType.LIST:
            item = self._list_item(name, field, domain, seen)
            hints = merged_hints(item.get("hints"), field.hints)
            return node(
                "list",
                name,
                concept_ref=item.get("concept_ref"),
                refines=item.get("refines"),
                **common,
                default_value=field.default_value,
                hints=hints,
                item=as_item(with_hints(item, hints)),
            )
        if kind is FieldType.DICT or kind is None:
            return with_hints(node("unknown", name, **common, default_value=field.default_value), field.hints)
        scalar = scalar_node(kind, name, required=field.required, description=field.description)
        return with_hints(updated(scalar, default_value=field.default_value), field.hints)

    def _list_item(self, name: str, field: FieldBlueprint, domain: str, seen: frozenset[str]) -> Node:
        """The element of a list field; a nested list, a map or an unnamed type is `unknown`."""
        item_type = field.item_type
        if item_type == FieldType.CONCEPT.value:
            target = self.library.resolve_concept(field.item_concept_ref or "", domain)
            return self.concept_node(name, target, seen) if target else node("unknown", name, required=True)
        scalar = next((kind for kind in FieldType if kind.value == item_type), None)
        if scalar is None or scalar in (FieldType.LIST, FieldType.DICT, FieldType.CONCEPT):
            return node("unknown", name, required=True)
        return scalar_node(scalar, name, required=True)


def scalar_node(kind: FieldType, name: str, *, required: bool, description: str | None = None) -> Node:
    """The node of a scalar structure type."""
    common: dict[str, Any] = {"description": description, "required": required}
    match kind:
        case FieldType.TEXT:
            return node("text", name, **common)
        case FieldType.INTEGER | FieldType.NUMBER:
            return node("number", name, **common, integer=kind is FieldType.INTEGER)
        case FieldType.BOOLEAN:
            return node("boolean", name, **common)
        case FieldType.DATE | FieldType.DATETIME:
            return node("date", name, **common, datetime=kind is FieldType.DATETIME)
        case FieldType.TIME:
            return node("text", name, **common, format="time")
        case FieldType.LIST | FieldType.DICT | FieldType.CONCEPT:
            return node("unknown", name, **common)


def input_form(
    library: Library,
    bundle_blueprints: Sequence[Mapping[str, Any]],
    contracts: Mapping[str, Mapping[str, Any]],
) -> dict[str, dict[str, Any]]:
    """`input_form` of the pipes `contracts` holds (`pipe_io_contracts` of the same report), same keys."""
    deriver = FormDeriver(library, authored_concepts(bundle_blueprints), output=False)
    form: dict[str, dict[str, Any]] = {}
    for ref, contract in contracts.items():
        entry = library.pipes.get(ref)
        slot_hints = _slot_hints(entry) if entry is not None else {}
        form[ref] = {
            "fields": [
                deriver.slot(name, slot, slot_hints.get(name)) for name, slot in contract["inputs"].items()
            ]
        }
    return form


def _slot_hints(entry: PipeEntry) -> dict[str, dict[str, str] | None]:
    """The hints each input slot authors (only the expanded `{ concept, hints }` form carries any)."""
    return {
        name: declared.hints if isinstance(declared, InputTable) else None
        for name, declared in entry.blueprint.inputs.items()
    }


def output_form(
    library: Library,
    bundle_blueprints: Sequence[Mapping[str, Any]],
    contracts: Mapping[str, Mapping[str, Any]],
) -> dict[str, dict[str, Any]]:
    """`output_form` of the pipes `contracts` holds, same keys: `{ref: {"field": <node named output>}}`."""
    deriver = FormDeriver(library, authored_concepts(bundle_blueprints), output=True)
    return {ref: {"field": deriver.output_field(contract["output"])} for ref, contract in contracts.items()}
