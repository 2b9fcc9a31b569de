"""Rendering MTHDS templates and PipeCondition expressions in the sandbox, within a budget (mthds.md §3, §8).

Pure and deterministic, so it may run in Temporal workflow code; every failure is a `TemplateRenderFault`.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Final, TypeVar

import jinja2

from shared.language.render_state import (
    DEFAULT_MAX_ITERATIONS,
    DEFAULT_MAX_OUTPUT_CHARS,
    RenderBudgetExceeded,
    RenderState,
    activated,
)
from shared.language.sigils import preprocess_sigils
from shared.language.template_analysis import TemplateCategory
from shared.language.template_field_views import UndeclaredFieldError
from shared.language.template_filters import TagStyle
from shared.language.template_sandbox import TemplateSandbox
from shared.language.template_stuff import TextFormat

BUDGET_EXCEEDED: Final = "pipe.template_budget_exceeded"
RENDER_FAILED: Final = "pipe.template_render_failed"

_Choice = TypeVar("_Choice", TagStyle, TextFormat)


class TemplateRenderFault(Exception):
    """A template that failed to render: `code` is its problem code (`pipe.template_*`), `message` prose,
    `params` what names the fault (`field`, `concept` for a read of an undeclared field)."""

    def __init__(self, code: str, message: str, params: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.params: dict[str, Any] = params or {}


@lru_cache(maxsize=64)
def _sandbox(
    category: TemplateCategory, strict: bool, tag_style: TagStyle, text_format: TextFormat
) -> TemplateSandbox:
    return TemplateSandbox(category, strict=strict, tag_style=tag_style, text_format=text_format)


@lru_cache(maxsize=512)
def _compiled(
    source: str,
    category: TemplateCategory,
    strict: bool,
    tag_style: TagStyle,
    text_format: TextFormat,
    sigils: bool,
) -> jinja2.Template:
    # Compiling is the slow part of a render; a compiled template renders concurrently without shared state.
    jinja_source = preprocess_sigils(source) if sigils else source
    return _sandbox(category, strict, tag_style, text_format).from_string(jinja_source)


def _choice(kind: type[_Choice], value: str) -> _Choice:
    try:
        return kind(value)
    except ValueError as exc:
        known = ", ".join(member.value for member in kind)
        raise TemplateRenderFault(RENDER_FAILED, f"'{value}' is not one of {known}") from exc


def _as_fault(exc: BaseException) -> TemplateRenderFault:
    if isinstance(exc, RenderBudgetExceeded | MemoryError):
        return TemplateRenderFault(BUDGET_EXCEEDED, str(exc) or "the template went over its render budget")
    if isinstance(exc, UndeclaredFieldError):
        return TemplateRenderFault(
            RENDER_FAILED, f"it reads '{exc.field}': {exc}", {"field": exc.field, "concept": exc.concept}
        )
    if isinstance(exc, RecursionError):
        return TemplateRenderFault(RENDER_FAILED, "the template recursed too deeply")
    return TemplateRenderFault(RENDER_FAILED, f"{type(exc).__name__}: {exc}")


def render_template(
    source: str,
    category: TemplateCategory,
    variables: Mapping[str, Any],
    *,
    sigils: bool = True,
    strict: bool = False,
    tag_style: str = "xml",
    text_format: str = "plain",
    extra_context: Mapping[str, Any] | None = None,
    max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
    max_iterations: int = DEFAULT_MAX_ITERATIONS,
) -> str:
    """Render `source` with `variables` (stuffs as `TemplateStuff`); raises only `TemplateRenderFault`.

    `extra_context` adds names the interpreter provides (such as `_nb_output`); `strict` makes an undefined
    value fail the render instead of printing as empty text (PipeDocGen).
    """
    style, default_format = _choice(TagStyle, tag_style), _choice(TextFormat, text_format)
    state = RenderState(max_output_chars=max_output_chars, max_iterations=max_iterations)
    try:
        context = {**variables, **(extra_context or {})}
        template = _compiled(source, category, strict, style, default_format, sigils)
        chunks: list[str] = []
        length = 0
        with activated(state):
            for chunk in template.generate(context):
                length += len(chunk)
                state.check_output(length)
                chunks.append(chunk)
        return "".join(chunks)
    except Exception as exc:
        # The contract: no Jinja or Python error escapes a render; each becomes a typed fault.
        raise _as_fault(exc) from exc


def render_expression(expression: str, variables: Mapping[str, Any]) -> str:
    """Evaluate a PipeCondition expression to text (Python booleans print `True`/`False`)."""
    return render_template(f"{{{{ {expression} }}}}", TemplateCategory.EXPRESSION, variables, sigils=False)
