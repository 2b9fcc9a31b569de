"""Stuffs and absences: the values a working memory holds (mthds.md §4.1). Pure.

A stuff's `content` is plain JSON-compatible data (dicts, lists, str, int, float, bool, None) and is
never mutated once stored, so memories may share stuffs between forks without copying them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from shared.runtime.json_values import as_list, as_mapping


class AbsenceKind(StrEnum):
    DECLARED_ABSENT = "declared_absent"
    SKIPPED = "skipped"
    NOT_PROVIDED = "not_provided"


@dataclass(frozen=True, slots=True)
class Stuff:
    """A named value of a concept; a list stuff holds `{"items": [...]}` with `concept` naming the item."""

    name: str
    code: str
    concept: str
    content: Any
    is_list: bool = False

    def items(self) -> list[Any]:
        """The item contents of a list stuff (empty for a single one)."""
        fields = as_mapping(self.content) if self.is_list else None
        items = as_list(fields.get("items")) if fields is not None else None
        return items or []

    def renamed(self, name: str) -> Stuff:
        return replace(self, name=name)

    def wire(self) -> dict[str, Any]:
        return {
            "stuff_code": self.code,
            "stuff_name": self.name,
            "concept": self.concept,
            "content": self.content,
        }


@dataclass(frozen=True, slots=True)
class Absence:
    """A name that holds nothing, with why and who: records chain through `upstream` (§4.4)."""

    variable_name: str
    kind: AbsenceKind
    reason: str
    producing_pipe: str | None = None
    upstream: Absence | None = None

    def renamed(self, name: str) -> Absence:
        return replace(self, variable_name=name)

    def wire(self) -> dict[str, Any]:
        return {
            "variable_name": self.variable_name,
            "kind": self.kind.value,
            "reason": self.reason,
            "producing_pipe": self.producing_pipe,
            "upstream": self.upstream.wire() if self.upstream is not None else None,
        }


Value = Stuff | Absence
