"""The MTHDS filters: `format`, `tag`, `escape_script_tag`, `markdown`, `with_images` (mthds.md §3.2).

Pure. In LLM and image-generation prompts an image value prints as `[Image N]`, numbered per render.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from typing import Any, Final, cast

from jinja2 import Undefined
from markupsafe import Markup

from shared.language.markdown_html import markdown_to_html
from shared.language.render_state import active_state
from shared.language.template_analysis import CUSTOM_FILTERS, TemplateCategory
from shared.language.template_stuff import TemplateStuff, TextFormat, render_stuff, render_value

_IMAGE_FIELDS: Final = frozenset(
    {
        "url",
        "public_url",
        "source_prompt",
        "source_negative_prompt",
        "caption",
        "mime_type",
        "width",
        "height",
        "filename",
    }
)
_IMAGE_ONLY_FIELDS: Final = frozenset(
    {"source_prompt", "source_negative_prompt", "caption", "width", "height"}
)
_IMAGE_SUFFIXES: Final = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".svg")
_PROMPT_CATEGORIES: Final = frozenset({TemplateCategory.LLM_PROMPT, TemplateCategory.IMG_GEN_PROMPT})
# Converting Markdown costs far more than copying the characters it reads.
_MARKDOWN_UNITS_PER_CHAR: Final = 16


class TagStyle(StrEnum):
    """How `tag` wraps a value (mthds.md §3.2)."""

    NO_TAG = "no_tag"
    TICKS = "ticks"
    XML = "xml"
    SQUARE_BRACKETS = "square_brackets"


def image_url(value: Any) -> str | None:
    """The URL of an image value: an Image stuff, or a nested object shaped like Image content.

    A nested `{"url": ...}` alone could be a Document: it counts as an image when it carries an image-only
    field, an `image/` MIME type, a `data:image/` URL or an image file suffix.
    """
    if isinstance(value, TemplateStuff):
        return image_url(value.content) if value.base == "Image" and not value.is_list else None
    if not isinstance(value, Mapping):
        return None
    fields = cast("Mapping[str, Any]", value)
    url = fields.get("url")
    if not isinstance(url, str) or not set(fields) <= _IMAGE_FIELDS:
        return None
    mime_type = fields.get("mime_type")
    if set(fields) & _IMAGE_ONLY_FIELDS or (isinstance(mime_type, str) and mime_type.startswith("image/")):
        return url
    lowered = url.lower()
    return (
        url if lowered.startswith("data:image/") or lowered.split("?")[0].endswith(_IMAGE_SUFFIXES) else None
    )


def apply_tag_style(text: str, name: str | None, style: TagStyle) -> str:
    match style:
        case TagStyle.NO_TAG:
            return text
        case TagStyle.TICKS:
            return f"{name}: ```\n{text}\n```" if name else f"```\n{text}\n```"
        case TagStyle.XML:
            return f"<{name or 'data'}>\n{text}\n</{name or 'data'}>"
        case TagStyle.SQUARE_BRACKETS:
            return f"[{name or 'data'}]\n{text}\n[/{name or 'data'}]"


def _with_images(value: Any, text_format: TextFormat) -> str:
    url = image_url(value)
    if url is not None:
        return active_state().image_placeholder(url)
    if isinstance(value, TemplateStuff):
        if value.is_list:
            return _with_images(list(value.item_views()), text_format)
        if value.base in {"Structured", "Page", "TextAndImages", "Composite", "SearchResult"}:
            return _with_images(value.content, text_format)
        return render_stuff(value, text_format)
    if isinstance(value, Mapping):
        fields = cast("Mapping[str, Any]", value).items()
        rendered = ((name, _with_images(item, text_format)) for name, item in fields if item is not None)
        return "\n".join(f"{name}: {text}" for name, text in rendered if text)
    if isinstance(value, list | tuple):
        parts = (_with_images(item, text_format) for item in cast("Sequence[Any]", value))
        return "\n".join(part for part in parts if part)
    return "" if value is None else str(value)


def escape_script_tag(value: Any) -> Any:
    """Every `<` as `\\u003c`, so a JSON value cannot close the `<script>` element it sits in."""
    return value.replace("<", "\\u003c") if isinstance(value, str) else value


def markdown_filter(value: Any) -> Markup:
    """Markdown text (a string, or a stuff's plain text) as HTML, marked safe: its raw HTML is escaped."""
    if value is None:
        return Markup("")
    source = value if isinstance(value, str) else str(value)
    state = active_state()
    state.check_size(len(source), "the Markdown to convert")
    state.charge(len(source) * _MARKDOWN_UNITS_PER_CHAR)
    converted = markdown_to_html(source)
    state.check_size(len(converted), "the converted Markdown")
    return Markup(converted)  # noqa: S704 -- the parser escapes raw HTML, so its output is safe to insert


def category_filters(
    category: TemplateCategory, tag_style: TagStyle, default_format: TextFormat
) -> dict[str, Callable[..., Any]]:
    """The filters `category` adds to Jinja's, bound to the render's tag style and default text format."""
    images_as_placeholders = category in _PROMPT_CATEGORIES
    autoescape = category is TemplateCategory.HTML

    def format_filter(value: Any, text_format: str | None = None) -> Any:
        try:
            chosen = TextFormat(text_format) if text_format else default_format
        except ValueError as exc:
            known = ", ".join(member.value for member in TextFormat)
            msg = f"the format filter takes one of {known}"
            raise ValueError(msg) from exc
        url = image_url(value) if images_as_placeholders else None
        if url is not None:
            return active_state().image_placeholder(url)
        if isinstance(value, TemplateStuff):
            # In HTML, Markdown prints as its HTML unless the template names another format (as pipelex does).
            markdown_as_html = not text_format or chosen is TextFormat.HTML
            if autoescape and value.base == "Markdown" and not value.is_list and markdown_as_html:
                return markdown_filter(value)
            return render_stuff(value, chosen)
        return render_value(value, chosen) if isinstance(value, Mapping) else value

    def tag_filter(value: Any, name: str | None = None) -> str:
        if isinstance(value, Undefined):
            msg = "cannot tag an undefined value"
            raise TypeError(msg)
        url = image_url(value) if images_as_placeholders else None
        if url is not None:
            return apply_tag_style(active_state().image_placeholder(url), name, tag_style)
        if isinstance(value, TemplateStuff):
            return apply_tag_style(
                render_stuff(value, TextFormat.PLAIN), name or value.stuff_name or None, tag_style
            )
        return apply_tag_style(render_value(value, TextFormat.PLAIN), name, tag_style)

    def with_images(value: Any, _unused: Any = None) -> str:
        if isinstance(value, Undefined):
            msg = "cannot use with_images on an undefined value"
            raise TypeError(msg)
        return _with_images(value, default_format)

    available: dict[str, Callable[..., Any]] = {
        "format": format_filter,
        "tag": tag_filter,
        "escape_script_tag": escape_script_tag,
        "markdown": markdown_filter,
        "with_images": with_images,
    }
    return {name: available[name] for name in CUSTOM_FILTERS[category]}
