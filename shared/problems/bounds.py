"""Size bounds of every problem document: long texts cut with a marker, long lists and objects cut with a
count of what was left out, the whole document at most `MAX_DOCUMENT_BYTES` once encoded. Pure.

A refusal must not cost more than the request it refuses: a problem naming a million bad keys would be
larger than the request and take longer to send than to find. The cut walks at most a bounded number
of values, however large the lists it is given, so bounding costs nothing for a huge refusal either.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any, cast

MAX_DOCUMENT_BYTES = 64 * 1024
OMITTED_SUFFIX = "_omitted"
OMITTED_MEMBERS = "omitted_members"
ERRORS_OMITTED = "errors" + OMITTED_SUFFIX
NESTED_TOO_DEEP = "[nested too deep]"
# Members whose values the service writes itself from short, fixed texts: never cut.
_FIXED_MEMBERS = frozenset(
    {"type", "title", "status", "code", "domain", "retry", "retry_after", "request_id"}
)
_TEXT_MEMBERS = frozenset({"detail", "pipeline_run_id"})
# What is left when nothing else makes a document fit: every other member only carries facts.
_CORE_MEMBERS = _FIXED_MEMBERS | _TEXT_MEMBERS | {"next_step"}


@dataclass(frozen=True, slots=True)
class Bounds:
    """How much of each value a problem document keeps."""

    max_items: int
    max_chars: int
    # Over all the texts, keys and values of the fact members together, in characters.
    max_total_chars: int
    max_depth: int


# What every problem keeps: a few hundred characters of any text, the first twenty items of any list.
DEFAULT_BOUNDS = Bounds(max_items=20, max_chars=500, max_total_chars=16_000, max_depth=8)
# When the default cut still encodes over `MAX_DOCUMENT_BYTES` (control characters escape to six bytes
# each): about 2,500 characters of facts (the budget, and one text past it per level), under 20 KiB.
TIGHT_BOUNDS = Bounds(max_items=5, max_chars=100, max_total_chars=2_000, max_depth=4)


def bounded_text(text: str, max_chars: int = DEFAULT_BOUNDS.max_chars) -> str:
    """`text`, or its first `max_chars` characters and a marker saying how many were cut."""
    if len(text) <= max_chars:
        return text
    return f"{text[:max_chars]}... [{len(text) - max_chars} more characters]"


def encoded_size(document: Mapping[str, Any]) -> int:
    """The bytes of `document` as the API sends it (Starlette's `JSONResponse` encoding).

    Never raises: a value JSON cannot hold counts as its `repr`, so bounding a run's error inside the
    workflow cannot fail it (the API's own encoding is what refuses such a value, as before).
    """
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=repr)
    return len(text.encode("utf-8"))


def bounded_problem(document: Mapping[str, Any], *, max_bytes: int = MAX_DOCUMENT_BYTES) -> dict[str, Any]:
    """`document` with every member bounded, in its member order; unchanged when already small.

    `detail`, `next_step.detail` and `pipeline_run_id` keep 500 characters; the fact members (`params`,
    `location`, `errors`, `run_error`, any other) share one budget. A cut list gets a sibling
    `<name>_omitted` with the count it lost, a cut object an `omitted_members` count, and the cut
    top-level `errors` put theirs in `params.errors_omitted`. Encoded, the result is at most `max_bytes`.
    """
    for bounds in (DEFAULT_BOUNDS, TIGHT_BOUNDS):
        bounded = _bounded_with(document, bounds)
        if encoded_size(bounded) <= max_bytes:
            return bounded
    # The core members alone: fixed texts and three texts of at most 500 characters.
    return {key: value for key, value in bounded.items() if key in _CORE_MEMBERS}


def _bounded_with(document: Mapping[str, Any], bounds: Bounds) -> dict[str, Any]:
    facts = _Cutter(bounds)
    members: dict[str, Any] = {}
    errors_omitted = 0
    for key, value in document.items():
        if key in _FIXED_MEMBERS:
            members[key] = value
        elif key in _TEXT_MEMBERS and isinstance(value, str):
            members[key] = bounded_text(value)
        elif key == "next_step" and isinstance(value, Mapping):
            step = cast("Mapping[str, Any]", value)
            members[key] = {
                name: bounded_text(str(step[name])) for name in ("kind", "detail") if name in step
            }
        elif key == "errors" and isinstance(value, list | tuple):
            members[key], errors_omitted = facts.sequence(cast("Sequence[Any]", value), 1)
        elif key == "run_error" and isinstance(value, Mapping):
            members[key] = _bounded_with(cast("Mapping[str, Any]", value), bounds)
        else:
            members[key] = facts.value(value, 0)
    if errors_omitted:
        _insert_params_count(members, ERRORS_OMITTED, errors_omitted)
    return members


def _insert_params_count(members: dict[str, Any], name: str, count: int) -> None:
    """Add `params.<name> = count`, creating `params` at its place in the member order (§13.1)."""
    params = members.get("params")
    if isinstance(params, dict):
        cast("dict[str, Any]", params)[name] = count
        return
    ordered = list(members.items())
    members.clear()
    inserted = False
    for key, value in ordered:
        if not inserted and key in ("location", "errors", "pipeline_run_id", "request_id", "run_error"):
            members["params"] = {name: count}
            inserted = True
        members[key] = value
    if not inserted:
        members["params"] = {name: count}


class _Cutter:
    """Copies values within `bounds`, charging the characters it keeps to one budget for the document."""

    def __init__(self, bounds: Bounds) -> None:
        self.bounds = bounds
        self.left = bounds.max_total_chars

    def value(self, value: Any, depth: int) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return self.mapping(cast("Mapping[Any, Any]", value), depth)
        if isinstance(value, list | tuple):
            return self.sequence(cast("Sequence[Any]", value), depth)[0]
        self.left -= 8  # a number, a boolean or null: a few characters once encoded
        return value

    def text(self, text: str) -> str:
        kept = bounded_text(text, self.bounds.max_chars)
        self.left -= len(kept) + 2
        return kept

    def mapping(self, mapping: Mapping[Any, Any], depth: int) -> Any:
        if depth >= self.bounds.max_depth:
            return self.text(NESTED_TOO_DEEP)
        kept: dict[str, Any] = {}
        taken = 0
        for key, item in mapping.items():
            if taken >= self.bounds.max_items or self.left <= 0:
                break
            taken += 1
            name = self.text(str(key))
            if isinstance(item, list | tuple):
                kept[name], omitted = self.sequence(cast("Sequence[Any]", item), depth + 1)
                if omitted:
                    kept[f"{name}{OMITTED_SUFFIX}"] = omitted
            else:
                kept[name] = self.value(item, depth + 1)
        if taken < len(mapping):
            kept[OMITTED_MEMBERS] = len(mapping) - taken
        return kept

    def sequence(self, items: Sequence[Any], depth: int) -> tuple[Any, int]:
        """The kept items (or a marker, nested too deep) and the count of those left out."""
        if depth >= self.bounds.max_depth:
            return self.text(NESTED_TOO_DEEP), 0
        kept: list[Any] = []
        for item in islice(items, self.bounds.max_items):
            if self.left <= 0:
                break
            kept.append(self.value(item, depth + 1))
        return kept, len(items) - len(kept)
