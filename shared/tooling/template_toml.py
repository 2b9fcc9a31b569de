"""TOML text of an inputs template, laid out by fixed rules rather than a TOML library's choices. Pure.

The layout is the MTHDS inputs-template one, so the bytes match what the `mthds` package renders:

- **Table layout** (explicit templates, every value a table): a table states its plain members first,
  then its table members, each half in template order; a table holding only tables states no header
  of its own (its children carry the dotted path) unless it is empty; a non-empty list of tables is an
  array of tables, one `[[path]]` per element; one blank line before every header but the first line.
- **Inline layout** (light templates): one `key = <inline value>` line per input, each under its
  `# comment` line, so template order survives and a bare scalar is not swallowed by a section.

TOML has no null: a `None` is written `""` so the key stays visible to whoever fills it in.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any, cast

_BARE_KEY = frozenset(string.ascii_letters + string.digits + "-_")
_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"}
_CONTROL = frozenset(chr(code) for code in range(0x20)) | {chr(0x7F)}


def table_layout(template: Mapping[str, Any]) -> str:
    """Sectioned TOML of a template whose values are tables; `""` for an empty template."""
    lines: list[str] = []
    _members(cast("dict[str, Any]", _without_nulls(template)), (), lines)
    return _joined(lines)


def inline_layout(template: Mapping[str, Any], comments: Mapping[str, str]) -> str:
    """One inline `key = value` line per member, each under `# <comment>` when it has one."""
    lines: list[str] = []
    for key, value in cast("dict[str, Any]", _without_nulls(template)).items():
        comment = comments.get(key)
        if comment:
            if any(character in _CONTROL - {"\t"} for character in comment):
                msg = f"the comment of '{key}' holds a character a TOML comment cannot carry"
                raise ValueError(msg)
            lines.append(f"# {comment}")
        lines.append(f"{_key(key)} = {_inline(value)}")
    return _joined(lines)


def _joined(lines: list[str]) -> str:
    return "\n".join(lines) + "\n" if lines else ""


def _without_nulls(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, Mapping):
        return {key: _without_nulls(member) for key, member in cast("Mapping[str, Any]", value).items()}
    if isinstance(value, list):
        return [_without_nulls(element) for element in cast("list[Any]", value)]
    return value


def _is_table(value: Any) -> bool:
    """A mapping, or a non-empty list of mappings (an array of tables)."""
    if isinstance(value, dict):
        return True
    if isinstance(value, list):
        elements = cast("list[Any]", value)
        return bool(elements) and all(isinstance(element, dict) for element in elements)
    return False


def _members(table: dict[str, Any], path: tuple[str, ...], lines: list[str]) -> None:
    """A table's body: plain members first, then table members, each in template order."""
    tables = {key: value for key, value in table.items() if _is_table(value)}
    lines.extend(f"{_key(key)} = {_inline(value)}" for key, value in table.items() if key not in tables)
    for key, value in tables.items():
        if isinstance(value, dict):
            _table(cast("dict[str, Any]", value), (*path, key), lines, element=False)
        else:
            for element in cast("list[dict[str, Any]]", value):
                _table(element, (*path, key), lines, element=True)


def _table(table: dict[str, Any], path: tuple[str, ...], lines: list[str], *, element: bool) -> None:
    only_tables = bool(table) and all(_is_table(value) for value in table.values())
    if element or not only_tables:
        if lines:
            lines.append("")
        dotted = ".".join(_key(segment) for segment in path)
        lines.append(f"[[{dotted}]]" if element else f"[{dotted}]")
    _members(table, path, lines)


def _key(key: str) -> str:
    return key if key and all(character in _BARE_KEY for character in key) else _string(key)


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        members = cast("dict[str, Any]", value)
        return "{" + ", ".join(f"{_key(key)} = {_inline(member)}" for key, member in members.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_inline(element) for element in cast("list[Any]", value)) + "]"
    if isinstance(value, bool):  # before int: a bool is an int in Python
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return _string(value)
    msg = f"no TOML spelling for a {type(value).__name__}"
    raise ValueError(msg)


def _string(text: str) -> str:
    """A basic string: the short escapes where TOML has one, `\\uXXXX` for other control characters."""
    escaped = (
        _ESCAPES.get(character) or (f"\\u{ord(character):04x}" if character in _CONTROL else character)
        for character in text
    )
    return '"' + "".join(escaped) + '"'
