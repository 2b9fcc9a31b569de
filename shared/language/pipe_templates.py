"""The templates a pipe renders at run time (prompts, questions, PipeCompose and construct templates,
PipeDocGen templates), each with its field and category, and the input roots a construct reads by
`from`. Pure. The validator's template checks and its field lint both walk this one list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from shared.language.pipe_blueprints import (
    ComposeTemplate,
    PipeCompose,
    PipeDocGen,
    PipeImgGen,
    PipeJudge,
    PipeLLM,
    PipeSearch,
)
from shared.language.template_analysis import TemplateCategory


@dataclass(frozen=True)
class RenderedTemplate:
    field: str
    source: str
    category: TemplateCategory


def rendered_templates(blueprint: Any) -> tuple[list[RenderedTemplate], set[str]]:
    """The templates a pipe renders, and input roots it reads otherwise (construct `from` paths)."""
    found: list[RenderedTemplate] = []
    roots: set[str] = set()

    def add(field: str, source: str | None, category: TemplateCategory) -> None:
        if source is not None:
            found.append(RenderedTemplate(field, source, category))

    if isinstance(blueprint, PipeLLM):
        add("prompt", blueprint.prompt, TemplateCategory.LLM_PROMPT)
        add("system_prompt", blueprint.system_prompt, TemplateCategory.LLM_PROMPT)
    elif isinstance(blueprint, PipeImgGen):
        add("prompt", blueprint.prompt, TemplateCategory.IMG_GEN_PROMPT)
        add("negative_prompt", blueprint.negative_prompt, TemplateCategory.IMG_GEN_PROMPT)
    elif isinstance(blueprint, PipeSearch):
        add("prompt", blueprint.prompt, TemplateCategory.LLM_PROMPT)
    elif isinstance(blueprint, PipeJudge):
        add("prompt", blueprint.prompt, TemplateCategory.LLM_PROMPT)
        add("question", blueprint.question, TemplateCategory.LLM_PROMPT)
        for name, question in (blueprint.questions or {}).items():
            add(f"questions.{name}.question", question.question, TemplateCategory.LLM_PROMPT)
    elif isinstance(blueprint, PipeDocGen):
        add("template", blueprint.template, TemplateCategory.HTML)
        add("filename", blueprint.filename, TemplateCategory.BASIC)
    elif isinstance(blueprint, PipeCompose):
        template = blueprint.template
        if isinstance(template, ComposeTemplate):
            add("template", template.template, TemplateCategory(template.category))
        else:
            add("template", template, TemplateCategory.BASIC)
        construct: dict[str, Any] = blueprint.construct_ or {}
        _construct_reads(construct, "construct", found, roots)
    return found, roots


def _construct_reads(
    construct: dict[str, Any], where: str, found: list[RenderedTemplate], roots: set[str]
) -> None:
    for name, value in construct.items():
        if not isinstance(value, dict):
            continue
        if "from" in value and isinstance(value["from"], str):
            roots.add(value["from"].split(".")[0])
        elif "template" in value and isinstance(value["template"], str):
            found.append(RenderedTemplate(f"{where}.{name}", value["template"], TemplateCategory.BASIC))
        else:
            nested = cast(dict[str, Any], value)
            _construct_reads(nested, f"{where}.{name}", found, roots)  # nested construct
