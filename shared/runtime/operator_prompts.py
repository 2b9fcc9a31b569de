"""Rendering an operator's templates (prompts, questions, document templates) over its inputs. Pure.

Model-backed executors and dry runs both start here, so a template fault surfaces identically in a
dry run and in a real run, as a typed `PipeRunError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.language.pipe_blueprints import PipeDocGen, PipeImgGen, PipeJudge, PipeLLM, PipeSearch
from shared.language.template_analysis import TemplateCategory
from shared.language.template_render import TemplateRenderFault, render_template
from shared.runtime.operator_call import OperatorCall
from shared.runtime.run_failure import PipeRunError
from shared.runtime.template_views import TemplateViews


@dataclass(frozen=True, slots=True)
class _Source:
    field: str
    text: str
    category: TemplateCategory
    strict: bool = False


def render_operator_templates(call: OperatorCall, views: TemplateViews) -> dict[str, str]:
    """Every template of the call's pipe, rendered: field path (`prompt`, `questions.x.question`) → text."""
    variables = views.variables(call.inputs.values())
    extra: dict[str, Any] = {"_nb_output": call.nb_output} if call.nb_output is not None else {}
    rendered: dict[str, str] = {}
    for source in _sources(call):
        try:
            rendered[source.field] = render_template(
                source.text, source.category, variables, strict=source.strict, extra_context=extra
            )
        except TemplateRenderFault as fault:
            raise PipeRunError(
                fault.code,
                f"its {source.field.replace('_', ' ')} failed to render: {fault.message}",
                params=fault.params,
            ) from fault
    return rendered


def _sources(call: OperatorCall) -> list[_Source]:
    blueprint = call.pipe.blueprint
    found: list[_Source] = []
    if isinstance(blueprint, PipeLLM):
        system = blueprint.system_prompt or call.pipe.system_prompt
        found += _present(
            ("prompt", blueprint.prompt), ("system_prompt", system), category=TemplateCategory.LLM_PROMPT
        )
    elif isinstance(blueprint, PipeImgGen):
        found += _present(
            ("prompt", blueprint.prompt),
            ("negative_prompt", blueprint.negative_prompt),
            category=TemplateCategory.IMG_GEN_PROMPT,
        )
    elif isinstance(blueprint, PipeSearch):
        found += _present(("prompt", blueprint.prompt), category=TemplateCategory.LLM_PROMPT)
    elif isinstance(blueprint, PipeJudge):
        questions = [
            (f"questions.{name}.question", q.question) for name, q in (blueprint.questions or {}).items()
        ]
        found += _present(
            ("prompt", blueprint.prompt),
            ("question", blueprint.question),
            *questions,
            category=TemplateCategory.LLM_PROMPT,
        )
    elif isinstance(blueprint, PipeDocGen):
        # Document templates render strictly: a missing field fails the render (mthds.md §2.9).
        found += [
            _Source(field, text, category, strict=True)
            for field, text, category in (
                ("template", blueprint.template, TemplateCategory.HTML),
                ("filename", blueprint.filename, TemplateCategory.BASIC),
            )
            if text is not None
        ]
    return found


def _present(*pairs: tuple[str, str | None], category: TemplateCategory) -> list[_Source]:
    return [_Source(field, text, category) for field, text in pairs if text is not None]
