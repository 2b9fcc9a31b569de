"""Where each key of a TOML text is written: dotted paths to the spans of their keys. Pure.

The linter turns a validation issue's dotted location (`pipe.a.steps.0.from`) into a range with this
index: a table's path maps to its header (`[pipe.a]`), a key's path to the key as written (dotted keys
included), an array item's path (`...steps.0`) to the item.
"""

from __future__ import annotations

import re

from shared.tooling.toml_layout import Array, Entry, Header, InlineTable, Key, Span, Statement, Value

KeyPath = tuple[str, ...]
_INDEX = re.compile(r"\[(\d+)\]")


def key_spans(statements: list[Statement]) -> dict[KeyPath, Span]:
    """Every path the text writes, to the span of its first writing."""
    index: dict[KeyPath, Span] = {}
    table: KeyPath = ()
    array_tables: dict[KeyPath, int] = {}
    for statement in statements:
        if isinstance(statement, Header):
            table = tuple(part.name for part in statement.key)
            _add_key(index, (), statement.key[:-1])  # the tables it opens implicitly: their key parts
            index.setdefault(table, statement.span)
            if statement.is_array:
                count = array_tables.get(table, 0)
                array_tables[table] = count + 1
                table = (*table, str(count))
                index.setdefault(table, statement.span)
        elif isinstance(statement, Entry):
            path = _add_key(index, table, statement.key)
            _add_value(index, path, statement.value)
    return index


def _add_key(index: dict[KeyPath, Span], base: KeyPath, key: Key) -> KeyPath:
    path = base
    for part in key:
        path = (*path, part.name)
        index.setdefault(path, Span(key[0].span.start, part.span.end))
    return path


def _add_value(index: dict[KeyPath, Span], path: KeyPath, value: Value) -> None:
    if isinstance(value, InlineTable):
        for entry in value.entries:
            _add_value(index, _add_key(index, path, entry.key), entry.value)
    elif isinstance(value, Array):
        for number, item in enumerate(value.items):
            item_path = (*path, str(number))
            index.setdefault(item_path, item.value.span)
            _add_value(index, item_path, item.value)


def dotted_location(field: str) -> str:
    """A validator's field path as a dotted TOML path: `steps[0].from` → `steps.0.from`."""
    return _INDEX.sub(r".\1", field)


def span_of(index: dict[KeyPath, Span], location: str) -> Span | None:
    """The span of the longest leading part of `location` the text writes; None if not even its first key."""
    parts = tuple(location.split("."))
    for length in range(len(parts), 0, -1):
        span = index.get(parts[:length])
        if span is not None:
            return span
    return None
