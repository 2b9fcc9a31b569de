"""A working memory as plain JSON and back, exactly: what a batch's chunks start from. Pure.

`WorkingMemory.wire()` is the answer's shape (it drops `is_list`); this one keeps everything the
interpreter reads, so a chunk's items see the memory their batch saw.
"""

from __future__ import annotations

from typing import Any, cast

from shared.runtime.stuff import Absence, AbsenceKind, Stuff
from shared.runtime.working_memory import WorkingMemory


def encode_memory(memory: WorkingMemory, *, leave_out: str | None = None) -> dict[str, Any]:
    """`memory` as JSON; `leave_out` names a stuff not to copy (a batch's list, whose items go in pages)."""
    return {
        "root": {
            name: {
                "name": stuff.name,
                "code": stuff.code,
                "concept": stuff.concept,
                "content": stuff.content,
                "is_list": stuff.is_list,
            }
            for name, stuff in memory.root.items()
            if name != leave_out
        },
        "aliases": dict(memory.aliases),
        "absences": {name: _encode_absence(absence) for name, absence in memory.absences.items()},
    }


def decode_memory(raw: dict[str, Any]) -> WorkingMemory:
    root = cast("dict[str, dict[str, Any]]", raw.get("root") or {})
    absences = cast("dict[str, dict[str, Any]]", raw.get("absences") or {})
    return WorkingMemory(
        {
            name: Stuff(
                str(fields["name"]),
                str(fields["code"]),
                str(fields["concept"]),
                fields.get("content"),
                bool(fields.get("is_list")),
            )
            for name, fields in root.items()
        },
        {
            str(alias): str(target)
            for alias, target in cast("dict[str, Any]", raw.get("aliases") or {}).items()
        },
        {name: _decode_absence(fields) for name, fields in absences.items()},
    )


def _encode_absence(absence: Absence) -> dict[str, Any]:
    return {
        "variable_name": absence.variable_name,
        "kind": absence.kind.value,
        "reason": absence.reason,
        "producing_pipe": absence.producing_pipe,
        "upstream": _encode_absence(absence.upstream) if absence.upstream is not None else None,
    }


def _decode_absence(fields: dict[str, Any]) -> Absence:
    upstream = fields.get("upstream")
    return Absence(
        str(fields["variable_name"]),
        AbsenceKind(str(fields["kind"])),
        str(fields["reason"]),
        fields.get("producing_pipe"),
        _decode_absence(cast("dict[str, Any]", upstream)) if isinstance(upstream, dict) else None,
    )
