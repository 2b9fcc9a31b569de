"""How deeply a TOML text nests, measured in one linear pass before `tomllib` reads it. Pure.

`tomllib` spends time quadratic in the parts of a dotted key (`a.a.a...` 30,000 parts long takes a
minute, a 1 MiB bundle hours) and recurses once per nested array or inline table. Bundles nest a few
levels; a text past these limits is refused as too deep before it is parsed.
"""

from __future__ import annotations

from typing import Final

# Far beyond any bundle, far below what makes `tomllib` slow or recurse deeply.
MAX_KEY_PARTS: Final = 128
MAX_BRACKET_DEPTH: Final = 128

_OPENING: Final = frozenset("[{")
_CLOSING: Final = frozenset("]}")
# What a dotted key is made of besides its dots and quoted parts: anything else ends the key.
_KEY_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_- \t")


def _string_end(text: str, start: int) -> int:
    """The offset just past the string opening at `start` (its end of text or line if unterminated)."""
    quote = text[start]
    if text.startswith(quote * 3, start):
        closing = quote * 3
        index = start + 3
        while True:
            found = text.find(closing, index)
            if found < 0:
                return len(text)
            # A basic string's `\"""` escapes a quote: count the backslashes before the closing quotes.
            backslashes = 0
            while quote == '"' and found - backslashes - 1 >= index and text[found - backslashes - 1] == "\\":
                backslashes += 1
            if backslashes % 2 == 0:
                # `""""` or `"""""` closes with the extra quotes inside the string.
                end = found + 3
                while end < len(text) and text[end] == quote and end - found < 5:
                    end += 1
                return end
            index = found + 1
    index = start + 1
    while index < len(text):
        char = text[index]
        if char == "\n":
            return index
        if char == "\\" and quote == '"':
            index += 2
            continue
        if char == quote:
            return index + 1
        index += 1
    return len(text)


def nesting_fault(text: str) -> str | None:
    """Why `text` nests too deeply to be read (a key of too many parts, too many brackets), or None."""
    index, depth, key_dots = 0, 0, 0
    length = len(text)
    while index < length:
        char = text[index]
        if char in "\"'":
            index = _string_end(text, index)
            continue
        if char == "#":
            newline = text.find("\n", index)
            index = length if newline < 0 else newline
            continue
        if char == ".":
            key_dots += 1
            if key_dots >= MAX_KEY_PARTS:
                return f"a dotted key has more than {MAX_KEY_PARTS} parts"
        elif char not in _KEY_CHARS:
            key_dots = 0
            if char in _OPENING:
                depth += 1
                if depth > MAX_BRACKET_DEPTH:
                    return f"arrays and tables nest more than {MAX_BRACKET_DEPTH} deep"
            elif char in _CLOSING:
                depth = max(depth - 1, 0)
        index += 1
    return None
