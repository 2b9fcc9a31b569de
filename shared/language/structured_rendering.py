"""Structured content (nested JSON objects and lists) printed as Markdown-ish text or HTML.

Pure.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any, cast


def markdown_dump(data: Any, level: int = 1) -> str:
    """Structured data as Markdown-ish text (the plain rendering of a structured stuff, mthds.md §3.3).

    pipelex's `convert_to_markdown`: a field is a `# name: value` line, or a heading then its value when the
    value spans lines, one more `#` per level; a list is a `- item` bullet list.
    """
    if isinstance(data, Mapping):
        lines: list[str] = []
        for key, value in cast("Mapping[Any, Any]", data).items():
            heading = f"{'#' * min(level, 6)} {key}"
            converted = markdown_dump(value, level + 1)
            if "\n" in converted:
                lines.extend([heading, converted])
            else:
                lines.append(f"{heading}: {converted}")
        return "\n\n".join(line for line in lines if line.strip())
    if isinstance(data, list | tuple):
        bullets: list[str] = []
        for item in cast("Sequence[Any]", data):
            first, *rest = markdown_dump(item, level).split("\n")
            bullets.append(f"- {first}")
            bullets.extend(f"  {line}" for line in rest if line.strip())
        return "\n".join(bullets)
    return str(data)


def _value_html(value: Any) -> str:
    if value is None:
        return "<em>None</em>"
    if isinstance(value, Mapping):
        entries = cast("Mapping[Any, Any]", value).items()
        rows = "".join(
            f"<dt>{html.escape(str(key))}</dt><dd>{_value_html(item)}</dd>" for key, item in entries
        )
        return f"<dl>{rows}</dl>" if rows else "<em>empty</em>"
    if isinstance(value, list | tuple):
        rows = "".join(f"<li>{_value_html(item)}</li>" for item in cast("Sequence[Any]", value))
        return f"<ul>{rows}</ul>" if rows else "<em>empty</em>"
    return html.escape(str(value))


def html_dump(data: Any) -> str:
    """Structured data as an HTML table of its fields (fields holding null are left out)."""
    if not isinstance(data, Mapping):
        return _value_html(data)
    fields = cast("Mapping[Any, Any]", data).items()
    rows = "".join(
        f"<tr><th>{html.escape(str(name))}</th><td>{_value_html(value)}</td></tr>"
        for name, value in fields
        if value is not None
    )
    return f"<table>{rows}</table>" if rows else "<table><tr><td><em>empty</em></td></tr></table>"
