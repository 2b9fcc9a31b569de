"""What a template sees of a stuff (`TemplateStuff`) and how a whole value prints in each text format.

Pure. Renderings follow mthds.md §3.3 (plain) and pipelex 0.92.2 for the markdown, html and json forms.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, cast

from shared.language.markdown_html import markdown_to_html
from shared.language.structured_rendering import html_dump, markdown_dump
from shared.language.template_shapes import FieldShape

NATIVE_CONCEPT_CODES = frozenset(
    {
        "Text", "Markdown", "Number", "YesNo", "Choice", "Rating", "Date", "Time", "Image", "Document",
        "Html", "TextAndImages", "Page", "JSON", "SearchResult", "Dynamic", "Anything", "Composite",
    }
)  # fmt: skip


class TextFormat(StrEnum):
    """The formats the `format` filter renders a value in."""

    PLAIN = "plain"
    MARKDOWN = "markdown"
    HTML = "html"
    JSON = "json"


@dataclass(frozen=True)
class TemplateStuff:
    """A stuff as a template sees it: attribute reads reach `content` fields and the four metadata names.

    `content` is the JSON content shape of mthds.md §1.5 (`{"items": [...]}` for a list). `native_base` is
    the native concept the concept derives from ("Structured" for a structure); empty means "the concept
    itself when native, else Structured". `shape` is the concept's declared fields when they are known and
    reads are checked against them (real runs), else None (dry runs, concepts without a structure).
    """

    concept_code: str
    content: Any
    is_list: bool = False
    stuff_name: str = ""
    stuff_code: str = ""
    native_base: str = ""
    shape: FieldShape | None = field(default=None, compare=False, repr=False)

    @property
    def base(self) -> str:
        if self.native_base:
            return self.native_base
        code = self.concept_code.rsplit(".", 1)[-1]
        return code if code in NATIVE_CONCEPT_CODES else "Structured"

    def read(self, key: str) -> Any:
        """The content field or metadata value a template reads under `key`; KeyError when there is none."""
        fields = _fields(self.content)
        if key in fields:
            return fields[key]
        metadata = {
            "_stuff_name": self.stuff_name,
            "_stuff_code": self.stuff_code,
            "_concept_code": self.concept_code,
            "_content_class": self._content_class(),
        }
        return metadata[key]

    def _content_class(self) -> str:
        if self.is_list:
            return "ListContent"
        base = self.base
        return self.concept_code.rsplit(".", 1)[-1] if base == "Structured" else f"{base}Content"

    def item_views(self) -> tuple[TemplateStuff, ...]:
        """The items of a list stuff, each seen as a single stuff of the same concept."""
        content: Any = self.content
        raw: Any = _fields(content).get("items", []) if isinstance(content, Mapping) else content
        items = cast("list[Any]", raw) if isinstance(raw, list | tuple) else []
        return tuple(
            TemplateStuff(
                self.concept_code, item, False, self.stuff_name, self.stuff_code, self.native_base, self.shape
            )
            for item in items
        )

    def __iter__(self) -> Iterator[TemplateStuff]:
        if not self.is_list:
            msg = f"'{self.stuff_name or self.concept_code}' is not a list"
            raise TypeError(msg)
        return iter(self.item_views())

    def __len__(self) -> int:
        if not self.is_list:
            msg = f"'{self.stuff_name or self.concept_code}' is not a list"
            raise TypeError(msg)
        return len(self.item_views())

    def __bool__(self) -> bool:
        # Present means true whatever `__len__` says, so `{% if x %}` guards a single stuff; [] is false.
        return not self.is_list or bool(self.item_views())

    def __str__(self) -> str:
        return render_stuff(self, TextFormat.PLAIN)


def _fields(content: Any) -> Mapping[str, Any]:
    return cast("Mapping[str, Any]", content) if isinstance(content, Mapping) else {}


def _text(content: Any, key: str) -> str:
    value = _fields(content).get(key)
    return "" if value is None else str(value)


def _single_plain(base: str, content: Any) -> str:
    match base:
        case "Text" | "Markdown":
            return _text(content, "text")
        case "Number":
            return _text(content, "number")
        case "YesNo":
            return (
                "yes"
                if isinstance(content, Mapping) and cast("Mapping[str, Any]", content).get("yes_no")
                else "no"
            )
        case "Choice":
            return _text(content, "choice")
        case "Rating":
            return _text(content, "label") or _text(content, "level")
        case "Date":
            time = _text(content, "time")
            return f"{_text(content, 'date')}T{time}" if time else _text(content, "date")
        case "Time":
            return _text(content, "time")
        case "JSON":
            return json.dumps(cast("Mapping[str, Any]", content).get("json_obj"), indent=4)
        case "Html":
            return _text(content, "inner_html")
        case "Image":
            return _text(content, "url")[:500]
        case _:
            return markdown_dump(content)


def _single_markdown(base: str, content: Any) -> str:
    match base:
        case "JSON":
            return markdown_dump(cast("Mapping[str, Any]", content).get("json_obj"))
        case "Image":
            url = _text(content, "url")
            return f"![{url[:100]}]({url})"
        case _:
            return _single_plain(base, content)


def _single_html(base: str, content: Any) -> str:
    match base:
        case "Markdown":
            return markdown_to_html(_text(content, "text"))
        case "Number" | "YesNo" | "Date" | "Time":
            return _single_plain(base, content)
        case "Html":
            css_class = _text(content, "css_class")
            inner = _text(content, "inner_html")
            return f'<div class="{html.escape(css_class)}">{inner}</div>' if css_class else inner
        case "Image":
            return f'<img src="{html.escape(_text(content, "public_url") or _text(content, "url"))}">'
        case "Text" | "Choice" | "Rating":
            return html.escape(_single_plain(base, content))
        case "JSON":
            return f"<pre>{html.escape(_single_json(base, content))}</pre>"
        case _:
            return html_dump(content)


def _single_json(base: str, content: Any) -> str:
    if base in {"Text", "Markdown", "Number", "Time"}:
        return json.dumps(content)
    if base == "JSON":
        return json.dumps(cast("Mapping[str, Any]", content).get("json_obj"), indent=4)
    return json.dumps(content, indent=4)


_SINGLE_RENDERERS = {
    TextFormat.PLAIN: _single_plain,
    TextFormat.MARKDOWN: _single_markdown,
    TextFormat.HTML: _single_html,
    TextFormat.JSON: _single_json,
}


def _list_rendering(stuff: TemplateStuff, text_format: TextFormat) -> str:
    items = stuff.item_views()
    if text_format is TextFormat.JSON:
        return json.dumps(stuff.content, indent=4)
    if text_format is TextFormat.HTML:
        rows = "".join(f"<li>{render_stuff(item, text_format)}</li>" for item in items)
        return f"<ul>{rows}</ul>" if rows else "<ul><li><em>empty</em></li></ul>"
    # Only Text items print as bullets: the reference tests for its TextContent class, which Markdown lacks.
    if items and stuff.base == "Text":
        return "".join(f" • {render_stuff(item, TextFormat.MARKDOWN)}\n" for item in items)
    return "".join(
        f"\n • item #{index}:\n\n{render_stuff(item, TextFormat.MARKDOWN)}\n"
        for index, item in enumerate(items, 1)
    )


def render_stuff(stuff: TemplateStuff, text_format: TextFormat) -> str:
    """The whole stuff printed in `text_format` (mthds.md §3.3 for plain)."""
    if stuff.is_list:
        return _list_rendering(stuff, text_format)
    return _SINGLE_RENDERERS[text_format](stuff.base, stuff.content)


def render_value(value: Any, text_format: TextFormat) -> str:
    """Any value a template holds, printed in `text_format`: a stuff, a nested structure, or a scalar."""
    if isinstance(value, TemplateStuff):
        return render_stuff(value, text_format)
    if isinstance(value, Mapping | list | tuple):
        return _SINGLE_RENDERERS[text_format]("Structured", value)
    return str(value)
