"""The comments a class's source writes beside its fields, read with `ast` and `tokenize`.

The settings classes document their fields in comments, not in `Field(description=...)`: this reads
them back so the configuration reference says what the code says. Reads source files only.
"""

from __future__ import annotations

import ast
import inspect
import io
import re
import tokenize
from pathlib import Path

# Lint and type directives are not documentation: a `noqa` comment keeps only the reason after `--`.
_DIRECTIVE = re.compile(r"^(noqa|type:\s*ignore|pyright:)[^-]*(--\s*)?")


def field_comments(cls: type) -> dict[str, str]:
    """Field name → its comment, for the fields `cls` itself declares (not inherited ones).

    A field's comment is the block of comment lines right above it (no blank line between), then its
    trailing comment; a block above a group of fields is the first field's.
    """
    source_file = inspect.getsourcefile(cls)
    if source_file is None:
        return {}
    source = Path(source_file).read_text(encoding="utf-8")
    comments, code_lines = _comment_lines(source)
    found: dict[str, str] = {}
    for node in _class_body(ast.parse(source), cls.__name__):
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        above: list[str] = []
        line = node.lineno - 1
        while line in comments and line not in code_lines:
            above.insert(0, comments[line])
            line -= 1
        end = node.end_lineno or node.lineno
        trailing = [comments[number] for number in range(node.lineno, end + 1) if number in comments]
        text = " ".join(part for part in (*above, *trailing) if part)
        if text:
            found[node.target.id] = text
    return found


def _class_body(module: ast.Module, name: str) -> list[ast.stmt]:
    for node in module.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node.body
    return []


def _comment_lines(source: str) -> tuple[dict[int, str], set[int]]:
    """Line → comment text (directives removed), and the lines that hold code."""
    comments: dict[int, str] = {}
    code_lines: set[int] = set()
    skipped = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            text = _DIRECTIVE.sub("", token.string.lstrip("#").strip()).strip()
            comments[token.start[0]] = text
        elif token.type not in skipped:
            code_lines.update(range(token.start[0], token.end[0] + 1))
    return comments, code_lines
