"""MTHDS template sigils (`$x`, `@x`, `@?x`, `$$`, `@@`) rewritten to Jinja as pipelex 0.92.2 does (§3.1).

Pure.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_IDENTIFIER = r"[a-zA-Z_][a-zA-Z0-9_]*(?:\.[a-zA-Z_][a-zA-Z0-9_]*)*"

# `@x` / `@?x` only count alone on their line; the ASCII blanks around them are kept so an indented
# template keeps its column.
_AT_LINE = re.compile(rf"^([ \t]*)(@\??)({_IDENTIFIER})([ \t]*)$", re.MULTILINE)

# The reference's `$` pattern, kept byte for byte so that which text expands matches 0.92.2: not after a
# word character (`micro$oft`), never a digit first (`$100`), no half identifier (the `(?![a-zA-Z0-9_])`
# guard), and no expansion when blanks then an opener follow (`$foo (x)`, `$x "y"`), which reads as shell
# or code. Zero blanks before the opener still expands (`$user's`), as in the reference.
_DOLLAR = re.compile(rf"(?<!\w)\$({_IDENTIFIER})(?![a-zA-Z0-9_])(?![ \t]+[({{\"'])")

# Any `@x` / `@?x` not after a word character: e-mail addresses never match, `@media` does.
_AT_CANDIDATE = re.compile(rf"(?<!\w)@\??({_IDENTIFIER})")

# Private-use code points stand in for the escapes while the patterns run; one absent from the text is
# chosen, so no template can collide with its own placeholder.
_PLACEHOLDER_CANDIDATES = range(0xE000, 0xF900)


def _normalize_line_endings(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _unused_placeholders(text: str) -> tuple[str, str]:
    free = (chr(code) for code in _PLACEHOLDER_CANDIDATES if chr(code) not in text)
    return next(free), next(free)


def _hide_escapes(text: str) -> tuple[str, Callable[[str], str]]:
    """The text with `$$`/`@@` replaced by placeholders, and the function that turns them into `$`/`@`."""
    dollar, at = _unused_placeholders(text)
    hidden = _normalize_line_endings(text).replace("$$", dollar).replace("@@", at)

    def restore(rewritten: str) -> str:
        return rewritten.replace(dollar, "$").replace(at, "@")

    return hidden, restore


def _dollar_to_jinja(match: re.Match[str]) -> str:
    return f"{{{{ {match.group(1)}|format() }}}}"


def _at_to_jinja(match: re.Match[str]) -> str:
    leading, sigil, variable, trailing = match.group(1, 2, 3, 4)
    tagged = f'{{{{ {variable}|tag("{variable}") }}}}'
    if sigil == "@?":
        tagged = f"{{% if {variable} %}}{tagged}{{% endif %}}"
    return f"{leading}{tagged}{trailing}"


def preprocess_sigils(text: str) -> str:
    """Rewrite the sigils of `text` to Jinja and normalize its line endings to `\\n`.

    `$$` and `@@` come out as a literal `$` and `@`, which Jinja prints as they are.
    """
    hidden, restore = _hide_escapes(text)
    return restore(_AT_LINE.sub(_at_to_jinja, _DOLLAR.sub(_dollar_to_jinja, hidden)))


def find_inline_at_roots(text: str) -> frozenset[str]:
    """Roots of the `@x` / `@?x` written inline (not alone on their line); escaped `@@` never counts.

    The validator refuses those whose root is a declared input; the others (CSS `@media`, decorators)
    stay text.
    """
    roots: set[str] = set()
    hidden, _ = _hide_escapes(text)
    for line in hidden.split("\n"):
        if "@" not in line or _AT_LINE.fullmatch(line):
            continue
        roots.update(match.group(1).split(".")[0] for match in _AT_CANDIDATE.finditer(line))
    return frozenset(roots)
