"""Formatting of one `.mthds` text, in the layout of the reference formatter (pipelex-tools 0.7.0). Pure.

The rules, each checked against the reference on samples (docs/design/tooling-routes.md §5):

- Every comment is kept, its text unchanged: own-line comments (unindented), comments after a key/value,
  after a table header, after `[` and after array items. A trailing comment stands one space after its
  line, or at the shared column of its alignment group (below).
- Keys are written `a.b` (each part as written, quoted or bare), headers `[a.b]` / `[[a.b]]`, pairs
  `key = value`, inline tables `{ a = 1, b = "t" }` (`{}` when empty). Strings of every kind, numbers,
  booleans and dates keep their source text byte for byte, multi-line strings included.
- An alignment group is a run of key/value lines of one table with no blank line, comment line or header
  between them. In a group whose values all fit on one line, the `=` signs are aligned (keys padded to
  the longest; a lone key is not padded) and the trailing comments start one space after the longest
  line. A group holding a value over several lines (an expanded array, a multi-line string) is not
  aligned at all. Array items on consecutive lines align their trailing comments the same way.
- An array is written one item per line (two-space indent per level, a comma after every item) when
  its source already broke lines between its brackets, when it holds comments, or when its key/value
  line (comment included, alignment padding not) would exceed `column_width` (80 by default) characters;
  in that last case every array of the value is expanded. Otherwise it is `[1, 2]`.
- Runs of empty lines are capped at 2, inside arrays too (3 at the start of the text, as the reference
  does), empty lines at the end are dropped, lines lose their indentation and trailing
  blanks (comments keep theirs, except one ending the text, as in the reference), and the text ends
  with one newline. Line ends become `\\n` outside strings.

A text that is not valid TOML (or has duplicate keys) is returned unchanged with its diagnostics. The
result always parses (with `tomllib`) to the same data as the input: should a bug ever break that, the
input is returned unchanged. Formatting the result again changes nothing.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from typing import Any

from shared.tooling.mthds_diagnostics import Diagnostic, read_toml, too_deep
from shared.tooling.toml_layout import (
    Array,
    ArrayBlank,
    ArrayItem,
    Blank,
    CommentLine,
    Entry,
    Header,
    InlineTable,
    Key,
    Scalar,
    Statement,
    Value,
)
from shared.tooling.toml_layout_reader import read_layout

DEFAULT_COLUMN_WIDTH = 80
MAX_EMPTY_LINES = 2
MAX_LEADING_EMPTY_LINES = 3  # the reference's cap before the first line of the text
_INDENT = "  "


@dataclass(frozen=True, slots=True)
class FormatOutcome:
    """The formatted text, whether it differs from the input, and why it was left alone (if it was)."""

    formatted: str
    changed: bool
    diagnostics: tuple[Diagnostic, ...]


def format_mthds(text: str, *, column_width: int = DEFAULT_COLUMN_WIDTH) -> FormatOutcome:
    """`text` formatted; unchanged, with its diagnostics, when it is not valid TOML."""
    data, diagnostics = read_toml(text)
    if data is None:
        return FormatOutcome(text, False, tuple(diagnostics))
    try:
        formatted = render_layout(read_layout(text), column_width)
        # A text already formatted needs no second parse: it holds its own data.
        same = formatted == text or _same_data(data, formatted)
    except RecursionError:
        # `tomllib` read it, but laying it out nests deeper still.
        return FormatOutcome(text, False, (too_deep(),))
    if not same:
        return FormatOutcome(text, False, ())
    return FormatOutcome(formatted, formatted != text, ())


def _same_data(data: dict[str, Any], formatted: str) -> bool:
    try:
        again = tomllib.loads(formatted)
    except tomllib.TOMLDecodeError:
        return False
    # `repr` as well: NaN is not equal to itself, and the formatter never reorders keys.
    return again == data or repr(again) == repr(data)


def render_layout(statements: list[Statement], column_width: int) -> str:
    """The formatted text of `statements`."""
    lines: list[str] = []
    group: list[tuple[str, str, str | None]] = []  # (key, value, comment) of one alignment group
    for statement in statements:
        if isinstance(statement, Entry):
            group.append(_entry_parts(statement, column_width))
            continue
        lines += _aligned_entries(group)
        group = []
        if isinstance(statement, Blank):
            lines += [""] * min(statement.lines, MAX_EMPTY_LINES if lines else MAX_LEADING_EMPTY_LINES)
        elif isinstance(statement, CommentLine):
            lines.append(statement.text)
        else:
            lines.append(_header(statement))
    lines += _aligned_entries(group)
    # As in the reference: the text loses its final blanks (a last comment's included), then ends a line.
    return "\n".join(lines).rstrip() + "\n"


def _header(header: Header) -> str:
    key = key_text(header.key)
    written = f"[[{key}]]" if header.is_array else f"[{key}]"
    return f"{written} {header.comment}" if header.comment else written


def key_text(key: Key) -> str:
    return ".".join(part.raw for part in key)


def _entry_parts(entry: Entry, column_width: int) -> tuple[str, str, str | None]:
    key = key_text(entry.key)
    value = _value(entry.value, 0, expand=False)
    line = f"{key} = {value}" + (f" {entry.comment}" if entry.comment else "")
    if any(len(row) > column_width for row in line.split("\n")):
        value = _value(entry.value, 0, expand=True)
    return key, value, entry.comment


def _aligned_entries(group: list[tuple[str, str, str | None]]) -> list[str]:
    if any("\n" in value for _, value, _ in group):
        lines = [f"{key} = {value}" + (f" {comment}" if comment else "") for key, value, comment in group]
    else:
        width = max((len(key) for key, _, _ in group), default=0)
        lines = _with_comments([(f"{key.ljust(width)} = {value}", comment) for key, value, comment in group])
    return lines


def _with_comments(rows: list[tuple[str, str | None]]) -> list[str]:
    """Lines of one group; trailing comments start one space after the group's longest line."""
    column = max((len(text) for text, _ in rows), default=0)
    return [f"{text.ljust(column)} {comment}" if comment else text for text, comment in rows]


def _value(value: Value, depth: int, *, expand: bool) -> str:
    if isinstance(value, Scalar):
        return value.raw
    if isinstance(value, InlineTable):
        if not value.entries:
            return "{}"
        pairs = (
            f"{key_text(entry.key)} = {_value(entry.value, depth, expand=expand)}" for entry in value.entries
        )
        return "{ " + ", ".join(pairs) + " }"
    if expand or value.spans_lines or value.has_comments:
        return _expanded_array(value, depth, expand=expand)
    return "[" + ", ".join(_value(item.value, depth, expand=expand) for item in value.items) + "]"


def _expanded_array(array: Array, depth: int, *, expand: bool) -> str:
    indent = _INDENT * (depth + 1)
    lines = ["[" + (f" {array.open_comment}" if array.open_comment else "")]
    rows: list[tuple[str, str | None]] = []  # consecutive item lines: their comments align
    for element in array.elements:
        if isinstance(element, ArrayItem):
            text = indent + _value(element.value, depth + 1, expand=expand) + ","
            rows.append((text, element.comment))
            continue
        lines += _item_lines(rows)
        rows = []
        if isinstance(element, ArrayBlank):
            lines += [""] * min(element.lines, MAX_EMPTY_LINES)
        else:
            lines.append(indent + element.text)
    lines += _item_lines(rows)
    lines.append(_INDENT * depth + "]")
    return "\n".join(lines)


def _item_lines(rows: list[tuple[str, str | None]]) -> list[str]:
    if any("\n" in text for text, _ in rows):
        return [f"{text} {comment}" if comment else text for text, comment in rows]
    return _with_comments(rows)
