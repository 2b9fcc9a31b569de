"""The layout of a TOML text: its statements, keys, values and comments as written, with their places. Pure.

What the formatter re-lays out and the linter locates keys in. Values keep their source text (a string,
multi-line or not, is kept byte for byte); keys keep each part as written (quoted or bare) and its
decoded name. Built by `toml_layout_reader.read_layout`, from a text `tomllib` has already accepted.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    """Character offsets [start, end) in the text read."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class KeyPart:
    """One part of a dotted key: as written (`raw`), decoded (`name`), and where."""

    raw: str
    name: str
    span: Span


Key = tuple[KeyPart, ...]


@dataclass(frozen=True, slots=True)
class Scalar:
    """A string, number, boolean or date, as written."""

    raw: str
    span: Span


@dataclass(frozen=True, slots=True)
class ArrayItem:
    """One value of an array and the comment that ends its line, if any."""

    value: Value
    comment: str | None


@dataclass(frozen=True, slots=True)
class ArrayComment:
    """A comment on a line of its own inside an array."""

    text: str


@dataclass(frozen=True, slots=True)
class ArrayBlank:
    """Empty lines inside an array."""

    lines: int


ArrayElement = ArrayItem | ArrayComment | ArrayBlank


@dataclass(frozen=True, slots=True)
class Array:
    """An array; `spans_lines` when a line break stands between its brackets outside any string."""

    open_comment: str | None  # a comment right after `[`, on its line
    elements: tuple[ArrayElement, ...]
    spans_lines: bool
    span: Span

    @property
    def items(self) -> tuple[ArrayItem, ...]:
        return tuple(element for element in self.elements if isinstance(element, ArrayItem))

    @property
    def has_comments(self) -> bool:
        return self.open_comment is not None or any(
            isinstance(element, ArrayComment) or (isinstance(element, ArrayItem) and element.comment)
            for element in self.elements
        )


@dataclass(frozen=True, slots=True)
class InlineEntry:
    key: Key
    value: Value


@dataclass(frozen=True, slots=True)
class InlineTable:
    entries: tuple[InlineEntry, ...]
    span: Span

    @property
    def spans_lines(self) -> bool:
        return any(_spans_lines(entry.value) for entry in self.entries)


Value = Scalar | Array | InlineTable


def _spans_lines(value: Value) -> bool:
    return not isinstance(value, Scalar) and value.spans_lines


@dataclass(frozen=True, slots=True)
class Blank:
    """A run of empty (or blank) lines between statements."""

    lines: int


@dataclass(frozen=True, slots=True)
class CommentLine:
    text: str


@dataclass(frozen=True, slots=True)
class Header:
    """`[key]`, or `[[key]]` when `is_array`."""

    key: Key
    is_array: bool
    comment: str | None
    span: Span


@dataclass(frozen=True, slots=True)
class Entry:
    """`key = value` on the document's level (not inside an inline table)."""

    key: Key
    value: Value
    comment: str | None


Statement = Blank | CommentLine | Header | Entry
