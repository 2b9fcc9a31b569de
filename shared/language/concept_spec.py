"""Concept specs as written in `inputs` and `output`: reference, multiplicity and presence (mthds.md §1.6). Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from shared.language.issues import ErrorType


class Multiplicity(StrEnum):
    SINGLE = "single"
    VARIABLE = "variable"
    FIXED = "fixed"


class Presence(StrEnum):
    PLAIN = "plain"
    OPTIONAL = "optional"
    FORCE = "force"


_SPEC = re.compile(
    r"^(?P<ref>(?:[^\s\[\]?!]+->)?[a-zA-Z_][a-zA-Z0-9_]*(?:\.[a-zA-Z_][a-zA-Z0-9_]*)*)"
    r"(?:\[(?P<count>\d*)\])?(?P<marker>[?!])?$"
)


@dataclass(frozen=True, slots=True)
class ConceptSpec:
    """A parsed concept spec; `ref` is the concept reference exactly as written (unresolved)."""

    ref: str
    multiplicity: Multiplicity = Multiplicity.SINGLE
    count: int | None = None
    presence: Presence = Presence.PLAIN

    @property
    def is_list(self) -> bool:
        return self.multiplicity is not Multiplicity.SINGLE

    @property
    def is_optional(self) -> bool:
        return self.presence is Presence.OPTIONAL

    def render(self) -> str:
        suffix = {Multiplicity.SINGLE: "", Multiplicity.VARIABLE: "[]"}.get(
            self.multiplicity, f"[{self.count}]"
        )
        marker = {Presence.PLAIN: "", Presence.OPTIONAL: "?", Presence.FORCE: "!"}[self.presence]
        return f"{self.ref}{suffix}{marker}"


class ConceptSpecError(ValueError):
    """A concept spec that does not parse; `error_type` is None for plain schema violations."""

    def __init__(self, message: str, error_type: ErrorType | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type


def parse_concept_spec(text: str, *, is_output: bool = False) -> ConceptSpec:
    """Parse `X`, `X[]`, `X[N]`, `X?`, `X!`, `domain.X`, `alias->domain.X`; raises `ConceptSpecError`."""
    match = _SPEC.match(text.strip())
    if match is None:
        msg = f"'{text}' is not a concept spec (expected e.g. 'Text', 'domain.Code[]', 'X?')"
        raise ConceptSpecError(msg)
    count_text = match.group("count")
    multiplicity, count = Multiplicity.SINGLE, None
    if count_text is not None:
        if count_text == "":
            multiplicity = Multiplicity.VARIABLE
        else:
            count = int(count_text)
            if count < 1:
                msg = f"'{text}': a fixed list holds at least one item"
                raise ConceptSpecError(msg)
            multiplicity, count = (Multiplicity.SINGLE, None) if count == 1 else (Multiplicity.FIXED, count)
    marker = match.group("marker")
    presence = {None: Presence.PLAIN, "?": Presence.OPTIONAL, "!": Presence.FORCE}[marker]
    if presence is not Presence.PLAIN and multiplicity is not Multiplicity.SINGLE:
        msg = f"'{text}': a presence marker cannot be combined with a list multiplicity"
        raise ConceptSpecError(
            msg,
            ErrorType.OPTIONAL_MARKER_INVALID,
        )
    if is_output and presence is Presence.FORCE:
        msg = f"'{text}': '!' is for inputs only"
        raise ConceptSpecError(msg, ErrorType.OPTIONAL_MARKER_INVALID)
    return ConceptSpec(match.group("ref"), multiplicity, count, presence)
