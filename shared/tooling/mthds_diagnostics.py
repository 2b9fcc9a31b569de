"""Diagnostics of the lint and format tools, and the TOML-level ones: syntax errors and duplicate keys. Pure.

The shapes are the reference's (pipelex-tools 0.7.0): a range has 0-based UTF-8 *byte* offsets and
1-based lines and columns (columns count characters).
"""

from __future__ import annotations

import bisect
import itertools
import re
import tomllib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from shared.language.toml_nesting import nesting_fault
from shared.tooling.toml_layout import Entry, Header, InlineTable, Key, Span, Statement, Value
from shared.tooling.toml_layout_reader import read_layout

DiagnosticKind = Literal["syntax", "semantic", "schema"]
Severity = Literal["error", "warning"]

_POSITION = re.compile(r"\s*\(at (?:line (\d+), column (\d+)|end of document)\)$")
# tomllib's messages for a text that parses but defines a key twice (its other messages are syntax).
_CONFLICTS = ("Cannot overwrite", "Cannot declare", "Cannot mutate", "Cannot redefine", "Duplicate inline")
_NEWLINE = re.compile("\n")
_QUOTED_NAME = re.compile(r"'([^']*)'")
TOO_DEEP = "The text nests arrays or tables too deeply to be read."


class TextRange(BaseModel):
    """Where a diagnostic lies: byte offsets [start, end) and 1-based line/column of both ends."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start_offset: int
    end_offset: int
    start_line: int
    start_col: int
    end_line: int
    end_col: int


class Diagnostic(BaseModel):
    """One finding: its kind, severity, message, dotted TOML path (`location`) and range, when known."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: DiagnosticKind
    severity: Severity
    message: str
    location: str | None
    range: TextRange | None


def too_deep() -> Diagnostic:
    """The text nests deeper than it can be read (a recursion limit): no range."""
    return Diagnostic(kind="syntax", severity="error", message=TOO_DEEP, location=None, range=None)


class TextPositions:
    """Character offsets of one text to ranges, each in logarithmic time (a text may get many diagnostics)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.line_starts = [0, *(match.end() for match in _NEWLINE.finditer(text))]
        self.line_bytes = [0]  # UTF-8 offset of each line start
        for start, end in itertools.pairwise(self.line_starts):
            self.line_bytes.append(self.line_bytes[-1] + _utf8_length(text[start:end]))

    def range(self, span: Span) -> TextRange:
        start_line, start_col, start_offset = self._position(span.start)
        end_line, end_col, end_offset = self._position(span.end)
        return TextRange(
            start_offset=start_offset,
            end_offset=end_offset,
            start_line=start_line,
            start_col=start_col,
            end_line=end_line,
            end_col=end_col,
        )

    def _position(self, offset: int) -> tuple[int, int, int]:
        """1-based line and column, and UTF-8 offset, of a character offset."""
        index = bisect.bisect_right(self.line_starts, offset) - 1
        line_start = self.line_starts[index]
        return (
            index + 1,
            offset - line_start + 1,
            self.line_bytes[index] + _utf8_length(self.text[line_start:offset]),
        )


def _utf8_length(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def text_range(text: str, span: Span) -> TextRange:
    """`span` (character offsets in `text`) as a `TextRange`."""
    return TextPositions(text).range(span)


def read_toml(text: str) -> tuple[dict[str, Any] | None, list[Diagnostic]]:
    """The data of `text`, or None and why not: a syntax error or a key defined twice."""
    # Measured first: `tomllib` takes quadratic time on long dotted keys (`toml_nesting`).
    if nesting_fault(text) is not None:
        return None, [too_deep()]
    try:
        return tomllib.loads(text), []
    except RecursionError:
        return None, [too_deep()]
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
    position = _POSITION.search(message)
    bare_message = _POSITION.sub("", message)
    offset = len(text)
    if position is not None and position.group(1) is not None:
        offset = _offset_of(text, int(position.group(1)), int(position.group(2)))
    if bare_message.startswith(_CONFLICTS):
        return None, [_conflict(text, bare_message, offset)]
    end = min(offset + (2 if text.startswith("\r\n", offset) else 1), len(text))
    diagnostic = Diagnostic(
        kind="syntax",
        severity="error",
        message=bare_message,
        location=None,
        range=text_range(text, Span(offset, end)),
    )
    return None, [diagnostic]


def _offset_of(text: str, line: int, column: int) -> int:
    """The character offset of `tomllib`'s 1-based line and column (lines end at `\\n`)."""
    start = 0
    for _ in range(line - 1):
        start = text.find("\n", start) + 1
        if start == 0:
            return len(text)
    return min(start + column - 1, len(text))


def _conflict(text: str, message: str, offset: int) -> Diagnostic:
    """A key defined twice, located on the second definition (the one `tomllib` stopped at)."""
    try:
        key = _key_before(read_layout(text), offset)
    except RecursionError:
        key = None
    named = _QUOTED_NAME.findall(message)
    part = None
    if key:
        part = next((p for p in key if named and p.name == named[-1]), None) or key[-1]
    name = part.name if part is not None else (named[-1] if named else "?")
    return Diagnostic(
        kind="semantic",
        severity="error",
        message=f"conflicting keys: '{name}' and '{name}'",
        location=None,
        range=text_range(text, part.span) if part is not None else None,
    )


def _key_before(statements: list[Statement], offset: int) -> Key | None:
    """The last key written before `offset` (a header's, an entry's, or one inside an inline table)."""
    found: Key | None = None
    for statement in statements:
        if isinstance(statement, Header | Entry) and statement.key[0].span.start < offset:
            found = statement.key
            if isinstance(statement, Entry):
                found = _inline_key_before(statement.value, offset) or found
    return found


def _inline_key_before(value: Value, offset: int) -> Key | None:
    if not isinstance(value, InlineTable):
        return None
    found: Key | None = None
    for entry in value.entries:
        if entry.key[0].span.start < offset:
            found = _inline_key_before(entry.value, offset) or entry.key
    return found
