"""Reads the layout (`toml_layout`) of a TOML text that `tomllib` has already accepted. Pure.

A recursive-descent reader over characters: it trusts the text to be valid TOML 1.0 (the callers parse
it with `tomllib` first), so it recognises shapes rather than reporting faults. Deep nesting raises
`RecursionError`, as `tomllib` does.
"""

from __future__ import annotations

import re
import tomllib

from shared.tooling.toml_layout import (
    Array,
    ArrayBlank,
    ArrayComment,
    ArrayElement,
    ArrayItem,
    Blank,
    CommentLine,
    Entry,
    Header,
    InlineEntry,
    InlineTable,
    Key,
    KeyPart,
    Scalar,
    Span,
    Statement,
    Value,
)

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SCALAR_STOP = frozenset(" \t\r\n,]}#")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME_AFTER_SPACE = re.compile(r" \d{2}:")


def read_layout(text: str) -> list[Statement]:
    """The statements of `text`, in order."""
    return _Reader(text).document()


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    # -- document level -------------------------------------------------------------------------

    def document(self) -> list[Statement]:
        statements: list[Statement] = []
        empty_lines = 0
        while True:
            self._spaces()
            if self.pos >= len(self.text):
                break
            if self._at_newline():
                empty_lines += 1
                self._newline()
                continue
            if empty_lines:
                statements.append(Blank(empty_lines))
                empty_lines = 0
            statements.append(self._statement())
            self._spaces()
            if self.pos < len(self.text):
                self._newline()
        if empty_lines:
            statements.append(Blank(empty_lines))
        return statements

    def _statement(self) -> Statement:
        char = self.text[self.pos]
        if char == "#":
            return CommentLine(self._comment())
        if char == "[":
            return self._header()
        key = self._key()
        self._spaces()
        self.pos += 1  # "="
        self._spaces()
        value = self._value()
        self._spaces()
        return Entry(key, value, self._trailing_comment())

    def _header(self) -> Header:
        start = self.pos
        is_array = self.text.startswith("[[", self.pos)
        self.pos += 2 if is_array else 1
        self._spaces()
        key = self._key()
        self._spaces()
        self.pos += 2 if is_array else 1
        span = Span(start, self.pos)
        self._spaces()
        return Header(key, is_array, self._trailing_comment(), span)

    # -- keys -----------------------------------------------------------------------------------

    def _key(self) -> Key:
        parts: list[KeyPart] = []
        while True:
            self._spaces()
            start = self.pos
            if self.text[self.pos] in "\"'":
                raw = self._string()
                name = raw[1:-1] if raw[0] == "'" else tomllib.loads(f"k = {raw}")["k"]
            else:
                match = _BARE_KEY.match(self.text, self.pos)
                raw = name = match.group() if match else ""
                self.pos += len(raw)
            parts.append(KeyPart(raw, name, Span(start, self.pos)))
            self._spaces()
            if not self.text.startswith(".", self.pos):
                return tuple(parts)
            self.pos += 1

    # -- values ---------------------------------------------------------------------------------

    def _value(self) -> Value:
        char = self.text[self.pos]
        if char == "[":
            return self._array()
        if char == "{":
            return self._inline_table()
        start = self.pos
        if char in "\"'":
            self._string()
        else:
            self._scalar()
        return Scalar(self.text[start : self.pos], Span(start, self.pos))

    def _scalar(self) -> None:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in _SCALAR_STOP:
            self.pos += 1
        # A date and a time may be separated by one space (`1979-05-27 07:32:00`).
        if _DATE.fullmatch(self.text, start, self.pos) and _TIME_AFTER_SPACE.match(self.text, self.pos):
            self.pos += 1
            self._scalar()

    def _string(self) -> str:
        start, text = self.pos, self.text
        quote = text[start]
        if text.startswith(quote * 3, start):
            index = start + 3
            while not text.startswith(quote * 3, index):
                index += 2 if quote == '"' and text[index] == "\\" else 1
            # Up to two quotes of the content may stand right before the closing three.
            run_end = index
            while run_end < len(text) and text[run_end] == quote and run_end - index < 5:
                run_end += 1
            self.pos = run_end
        else:
            index = start + 1
            while text[index] != quote:
                index += 2 if quote == '"' and text[index] == "\\" else 1
            self.pos = index + 1
        return text[start : self.pos]

    def _array(self) -> Array:
        start = self.pos
        self.pos += 1
        elements: list[ArrayElement] = []
        open_comment: str | None = None
        spans_lines = False
        on_open_line = True  # still on the line of `[`
        item_on_line: int | None = None  # index in `elements` of an item that began on this line
        newlines = 0  # line breaks since the last element or bracket
        while True:
            self._spaces()
            char = self.text[self.pos]
            if char in "\r\n":
                self._newline()
                spans_lines, on_open_line, item_on_line = True, False, None
                newlines += 1
                continue
            if newlines > 1:
                elements.append(ArrayBlank(newlines - 1))
            newlines = 0
            if char == "#":
                comment = self._comment()
                if on_open_line and not elements:
                    open_comment = comment
                elif item_on_line is not None and isinstance(item := elements[item_on_line], ArrayItem):
                    elements[item_on_line] = ArrayItem(item.value, comment)
                else:
                    elements.append(ArrayComment(comment))
            elif char == ",":
                self.pos += 1
            elif char == "]":
                self.pos += 1
                return Array(open_comment, tuple(elements), spans_lines, Span(start, self.pos))
            else:
                value = self._value()
                spans_lines = spans_lines or (not isinstance(value, Scalar) and value.spans_lines)
                item_on_line = len(elements)
                elements.append(ArrayItem(value, None))

    def _inline_table(self) -> InlineTable:
        start = self.pos
        self.pos += 1
        entries: list[InlineEntry] = []
        while True:
            self._spaces()
            char = self.text[self.pos]
            if char == "}":
                self.pos += 1
                return InlineTable(tuple(entries), Span(start, self.pos))
            if char == ",":
                self.pos += 1
                continue
            key = self._key()
            self._spaces()
            self.pos += 1  # "="
            self._spaces()
            entries.append(InlineEntry(key, self._value()))

    # -- trivia ---------------------------------------------------------------------------------

    def _trailing_comment(self) -> str | None:
        if self.pos < len(self.text) and self.text[self.pos] == "#":
            return self._comment()
        return None

    def _comment(self) -> str:
        end = self.text.find("\n", self.pos)
        end = len(self.text) if end < 0 else end
        if end > self.pos and self.text[end - 1] == "\r":
            end -= 1
        comment = self.text[self.pos : end]
        self.pos = end
        return comment

    def _spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def _at_newline(self) -> bool:
        return self.text.startswith("\n", self.pos) or self.text.startswith("\r\n", self.pos)

    def _newline(self) -> None:
        self.pos += 2 if self.text.startswith("\r\n", self.pos) else 1
