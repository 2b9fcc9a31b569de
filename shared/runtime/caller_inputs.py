"""Caller inputs ("smart inputs") → typed stuffs checked against the entry pipe (mthds.md §4.3,
http-api.md §4.2). Pure.

Each value is read by its JSON shape, then validated against the declared concept. Every refusal is an
`InputRefused` naming the input, the expected concept and what was given, with its problem code.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

from shared.language.concept_compat import satisfies
from shared.language.concept_spec import Multiplicity, Presence
from shared.language.library import Library, PipeEntry
from shared.language.natives import NATIVE_DOMAIN
from shared.runtime.content_refs import is_pages_ref, is_stored
from shared.runtime.content_values import ContentRefused, ContentValidator
from shared.runtime.json_values import as_mapping
from shared.runtime.pipe_contracts import Declared, PipeContracts
from shared.runtime.stuff import Absence, AbsenceKind, Stuff
from shared.runtime.stuff_codes import StuffCodes
from shared.runtime.working_memory import WorkingMemory

RESERVED_KEYS = frozenset({"__class__", "__module__"})
_OPEN = frozenset(f"{NATIVE_DOMAIN}.{code}" for code in ("Anything", "Dynamic"))
# JSON scalars hold no keys: skipped by their exact type, cheaper than the `Mapping` check (a million
# input values are scanned in a fifth of the time).
_SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})
# A refusal names this many unknown inputs and counts the others.
_NAMED_UNKNOWN = 10
_SCALAR_FIELD = {"Text": "text", "Date": "date", "Time": "time", "Number": "number", "YesNo": "yes_no"}


class InputCode(StrEnum):
    """Problem codes of refused requests and inputs (http-api.md §4.5 checks 6 and 7)."""

    MISSING = "input.missing"
    WRONG_CONCEPT = "input.wrong_concept"
    INVALID = "input.invalid"
    WRONG_MULTIPLICITY = "input.wrong_multiplicity"
    FILE_UNREADABLE = "input.file_unreadable"
    TOO_LARGE = "input.too_large"
    RESERVED_KEY = "pipelex.security.reserved_key"
    REQUEST_INVALID = "request.invalid"
    PIPE_NOT_FOUND = "request.pipe_not_found"
    PIPE_UNSPECIFIED = "request.pipe_unspecified"
    PIPE_AMBIGUOUS = "request.pipe_ambiguous"


def refuse_reserved_keys(inputs: Mapping[str, Any] | None) -> None:
    """`InputRefused` when any nested mapping of `inputs` uses a reserved key (http-api.md §4.5 step 4)."""
    reserved = sorted(_reserved_keys(dict(inputs or {})))
    if reserved:
        raise InputRefused(
            InputCode.RESERVED_KEY,
            f"the inputs carry reserved keys: {', '.join(reserved)}",
            {"keys": reserved},
        )


def refuse_unknown_inputs(library: Library, entry: PipeEntry, inputs: Mapping[str, Any] | None) -> None:
    """`InputRefused` when `inputs` name an input `entry` does not declare: the first check of step 7,
    before any input value is read, stored or fetched (a million unknown keys cost one pass)."""
    CallerInputs(library, StuffCodes("")).named_inputs(entry, inputs)


class InputRefused(ValueError):
    """A caller input the entry pipe cannot take; `params` name the input, expected and given concepts."""

    def __init__(self, code: str, message: str, params: dict[str, Any]) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.params = params


@dataclass(frozen=True, slots=True)
class _Reading:
    concept: str
    content: Any
    is_list: bool


class CallerInputs:
    """Converts one request's `inputs` for one entry pipe of `library`."""

    def __init__(self, library: Library, codes: StuffCodes) -> None:
        self.library = library
        self.codes = codes
        self.validator = ContentValidator(library)
        self.contracts = PipeContracts(library)

    def memory_for(self, entry: PipeEntry, inputs: Mapping[str, Any] | None) -> WorkingMemory:
        """A working memory holding the entry pipe's inputs; raises `InputRefused`."""
        given = dict(inputs or {})
        refuse_reserved_keys(given)
        declared = self.contracts.of(entry).inputs
        given = self.named_inputs(entry, given)
        memory = WorkingMemory()
        for name, slot in declared.items():
            if name not in given:
                if slot.spec.presence is Presence.OPTIONAL:
                    absence = Absence(name, AbsenceKind.NOT_PROVIDED, "the caller did not provide it")
                    memory.record_absence(name, absence, main=False)
                    continue
                raise InputRefused(
                    InputCode.MISSING,
                    f"pipe '{entry.code}' needs the input '{name}' ({slot.spec.render()}), which was not given",
                    {"input": name, "expected": slot.spec.render(), "pipe": entry.code},
                )
            reading = self.read(name, slot, given[name])
            stuff = Stuff(name, self.codes.next_code(), reading.concept, reading.content, reading.is_list)
            memory.store(name, stuff, main=False)
        return memory

    def named_inputs(self, entry: PipeEntry, inputs: Mapping[str, Any] | None) -> dict[str, Any]:
        """The inputs by name (the working-memory form unwrapped); `InputRefused` naming any input the
        entry pipe does not declare."""
        given = dict(inputs or {})
        declared = self.contracts.of(entry).inputs
        if "root" in given and "root" not in declared and isinstance(given["root"], Mapping):
            given = _from_working_memory(cast("Mapping[str, Any]", given["root"]))
        unknown_count = len(given) - sum(1 for name in declared if name in given)
        if unknown_count:
            # The first few names in sorted order, without sorting a million of them (issue 18).
            unknown = heapq.nsmallest(_NAMED_UNKNOWN, (name for name in given if name not in declared))
            cut = unknown_count > len(unknown)
            more = f" and {unknown_count - len(unknown)} more" if cut else ""
            raise InputRefused(
                InputCode.INVALID,
                f"pipe '{entry.code}' declares no input named {', '.join(repr(name) for name in unknown)}"
                f"{more} (its inputs: {', '.join(sorted(declared)) or 'none'})",
                {
                    "input": unknown[0],
                    "pipe": entry.code,
                    **({"unknown_inputs": unknown_count} if cut else {}),
                },
            )
        return given

    def read(self, name: str, slot: Declared, value: Any) -> _Reading:
        expected = _expected(slot)
        if value is None:
            raise InputRefused(InputCode.INVALID, f"input '{name}' is null", _params(name, expected, "null"))
        if isinstance(value, Mapping) and "concept" in value:
            envelope = cast("Mapping[str, Any]", value)
            concept = self._concept_of(name, slot, str(envelope.get("concept", "")))
            content = envelope.get("content")
            if content is None:
                raise InputRefused(
                    InputCode.INVALID, f"input '{name}' has no content", _params(name, expected, "null")
                )
            if is_stored(content):
                # Stored by the API once it had checked it (a marker callers may not send): taken as is.
                return _Reading(concept, content, is_pages_ref(content))
        else:
            concept, content = slot.concept, cast("Any", value)
        is_list = isinstance(content, list)
        self._check_multiplicity(name, slot, cast("list[Any]", content) if is_list else None)
        if is_list:
            items = [self._content(name, concept, item) for item in cast("list[Any]", content)]
            return _Reading(concept, {"items": items}, True)
        return _Reading(concept, self._content(name, concept, content), False)

    def _concept_of(self, name: str, slot: Declared, written: str) -> str:
        matches = self.resolve_anywhere(written)
        if len(matches) != 1:
            why = (
                "matches concepts in several domains; write it 'domain.Concept'"
                if matches
                else "is not a known concept"
            )
            raise InputRefused(
                InputCode.WRONG_CONCEPT,
                f"input '{name}': concept '{written}' {why}",
                {**_params(name, _expected(slot), written), "matches": matches},
            )
        concept = matches[0]
        if not satisfies(self.library, concept, slot.concept):
            raise InputRefused(
                InputCode.WRONG_CONCEPT,
                f"input '{name}' expects {slot.concept}, but was given a {concept}",
                _params(name, _expected(slot), concept),
            )
        return concept

    def resolve_anywhere(self, written: str) -> list[str]:
        if "." in written:
            return [written] if written in self.library.concepts else []
        native = f"{NATIVE_DOMAIN}.{written}"
        if native in self.library.concepts:
            return [native]
        return sorted(ref for ref, concept in self.library.concepts.items() if concept.code == written)

    def _check_multiplicity(self, name: str, slot: Declared, items: list[Any] | None) -> None:
        spec = slot.spec
        expected = spec.render()
        if items is None and spec.is_list:
            raise InputRefused(
                InputCode.WRONG_MULTIPLICITY,
                f"input '{name}' expects a list ({expected}), got a single value",
                _params(name, expected, "a single value"),
            )
        if items is not None and not spec.is_list:
            raise InputRefused(
                InputCode.WRONG_MULTIPLICITY,
                f"input '{name}' expects a single value ({expected}), got a list",
                _params(name, expected, f"a list of {len(items)}"),
            )
        if items is not None and spec.multiplicity is Multiplicity.FIXED and len(items) != spec.count:
            raise InputRefused(
                InputCode.WRONG_MULTIPLICITY,
                f"input '{name}' expects exactly {spec.count} items, got {len(items)}",
                _params(name, expected, f"a list of {len(items)}"),
            )

    def _content(self, name: str, concept: str, value: Any) -> Any:
        content = self._shaped(name, concept, value)
        try:
            return self.validator.validate(concept, content)
        except ContentRefused as refused:
            raise InputRefused(
                InputCode.INVALID,
                f"input '{name}': {refused}",
                {**_params(name, concept, "a content that does not fit"), "fields": refused.fields},
            ) from refused

    def _shaped(self, name: str, concept: str, value: Any) -> Any:
        """A bare value as the content of `concept` (a string for a Text-like concept, a number for Number...)."""
        fields = as_mapping(value)
        if fields is not None:
            if concept == f"{NATIVE_DOMAIN}.JSON" and "json_obj" not in fields:
                return {"json_obj": dict(fields)}
            return dict(fields)
        if concept in _OPEN:
            return {"text": value} if isinstance(value, str) else {"value": value}
        for ancestor in self.library.lineage(concept):
            code = ancestor.removeprefix(f"{NATIVE_DOMAIN}.")
            if (
                ancestor.startswith(f"{NATIVE_DOMAIN}.")
                and code in _SCALAR_FIELD
                and _fits_scalar(code, value)
            ):
                return {_SCALAR_FIELD[code]: value}
            if ancestor in {f"{NATIVE_DOMAIN}.Image", f"{NATIVE_DOMAIN}.Document"} and isinstance(value, str):
                return {"url": value}
        raise InputRefused(
            InputCode.WRONG_CONCEPT,
            f"input '{name}' expects {concept}, which a bare {_json_kind(value)} cannot be",
            _params(name, concept, _json_kind(value)),
        )


def _fits_scalar(code: str, value: Any) -> bool:
    if code in {"Text", "Date", "Time"}:
        return isinstance(value, str)
    if code == "Number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, bool)


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "list" if isinstance(value, list) else "object"


def _expected(slot: Declared) -> str:
    """The declared spec with its concept resolved: `greetings.Guest[]`, `native.Text?`."""
    return slot.spec.render().replace(slot.spec.ref, slot.concept, 1)


def _params(name: str, expected: str, given: str) -> dict[str, Any]:
    return {"input": name, "expected": expected, "given": given}


def _from_working_memory(root: Mapping[str, Any]) -> dict[str, Any]:
    """`{"root": {name: stuff}}` → name → explicit envelope (`concept`, `content`)."""
    envelopes: dict[str, Any] = {}
    for name, stuff in root.items():
        if isinstance(stuff, Mapping):
            held = cast("Mapping[str, Any]", stuff)
            envelopes[name] = {"concept": held.get("concept"), "content": held.get("content")}
        else:
            envelopes[name] = stuff
    return envelopes


def _reserved_keys(value: Any) -> set[str]:
    found: set[str] = set()
    stack = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, Mapping):
            mapping = cast("Mapping[str, Any]", current)
            if not RESERVED_KEYS.isdisjoint(mapping):
                found.update(key for key in mapping if key in RESERVED_KEYS)
            stack.extend(item for item in mapping.values() if type(item) not in _SCALAR_TYPES)
        elif isinstance(current, list):
            stack.extend(item for item in cast("list[Any]", current) if type(item) not in _SCALAR_TYPES)
    return found
