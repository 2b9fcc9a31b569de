"""A PipeCondition's expression, rendered over its inputs' template variables. Pure.

The walk renders it in workflow code; when an input's content is stored (`content_refs.py`), an
activity renders it over the read-back contents, with this same function.
"""

from __future__ import annotations

from typing import Any

from shared.language.pipe_blueprints import PipeCondition
from shared.language.template_analysis import TemplateCategory
from shared.language.template_render import TemplateRenderFault, render_expression, render_template
from shared.runtime.run_failure import PipeRunError


def render_condition(blueprint: PipeCondition, variables: dict[str, Any]) -> str:
    """The rendered expression (the outcome key it selects); raises `PipeRunError` when it cannot render."""
    try:
        if blueprint.expression is not None:
            return render_expression(blueprint.expression, variables)
        source = blueprint.expression_template or ""
        return render_template(source, TemplateCategory.EXPRESSION, variables, sigils=False)
    except TemplateRenderFault as fault:
        raise PipeRunError(fault.code, f"its expression failed to render: {fault.message}") from fault
