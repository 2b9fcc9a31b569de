"""PipeCompose, the pure operator: template mode and construct mode (mthds.md §2.3). Pure.

It runs inside the walk (no executor, no activity): its output depends only on its inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from shared.language.natives import NATIVE_DOMAIN
from shared.language.pipe_blueprints import ComposeTemplate, PipeCompose
from shared.language.template_analysis import TemplateCategory
from shared.language.template_render import TemplateRenderFault, render_template
from shared.runtime.binding_values import natural_value, walk_values
from shared.runtime.content_values import ContentRefused, ContentValidator
from shared.runtime.operator_call import OperatorCall, Produced
from shared.runtime.run_failure import FailureCode, PipeRunError
from shared.runtime.template_views import TemplateViews

HTML = f"{NATIVE_DOMAIN}.Html"


def run_compose(call: OperatorCall, views: TemplateViews, validator: ContentValidator) -> Produced:
    """The composed content, validated against the call's output concept; raises `PipeRunError`."""
    blueprint = call.pipe.blueprint
    if not isinstance(blueprint, PipeCompose):
        msg = f"pipe '{call.pipe.code}' is not a PipeCompose"
        raise TypeError(msg)
    variables = views.variables(call.inputs.values())
    extra = {"_nb_output": call.nb_output} if call.nb_output is not None else {}
    if blueprint.construct_ is not None:
        content = _construct(blueprint.construct_, call, views, variables, extra)
    else:
        rendered = _render_template_field(blueprint.template, variables, extra)
        is_html = HTML in views.library.lineage(call.output.concept)
        content = {"inner_html": rendered, "css_class": None} if is_html else {"text": rendered}
    try:
        return Produced(validator.validate(call.output.concept, content))
    except ContentRefused as refused:
        raise PipeRunError(
            FailureCode.OUTPUT_INVALID,
            f"PipeCompose '{call.pipe.code}' built a content that does not fit its output: {refused}",
            params={"fields": refused.fields},
        ) from refused


def _render_template_field(
    template: str | ComposeTemplate | None, variables: dict[str, Any], extra: dict[str, Any]
) -> str:
    if isinstance(template, ComposeTemplate):
        style = template.templating_style or {}
        return _render(
            template.template,
            TemplateCategory(template.category),
            variables,
            {**(template.extra_context or {}), **extra},
            tag_style=style.get("tag_style", "xml"),
            text_format=style.get("text_format", "plain"),
        )
    return _render(template or "", TemplateCategory.BASIC, variables, extra)


def _render(
    source: str,
    category: TemplateCategory,
    variables: dict[str, Any],
    extra: dict[str, Any],
    *,
    tag_style: str = "xml",
    text_format: str = "plain",
) -> str:
    try:
        return render_template(
            source, category, variables, extra_context=extra, tag_style=tag_style, text_format=text_format
        )
    except TemplateRenderFault as fault:
        raise PipeRunError(
            fault.code, f"its template failed to render: {fault.message}", params=fault.params
        ) from fault


def _construct(
    construct: Mapping[str, Any],
    call: OperatorCall,
    views: TemplateViews,
    variables: dict[str, Any],
    extra: dict[str, Any],
) -> dict[str, Any]:
    built: dict[str, Any] = {}
    for name, spec in construct.items():
        if not isinstance(spec, Mapping):
            built[name] = spec  # a literal
            continue
        fields = cast("Mapping[str, Any]", spec)
        if "from" in fields:
            value = _from_path(str(fields["from"]), call, views)
            key = fields.get("list_to_dict_keyed_by")
            built[name] = _keyed(value, str(key), name) if key is not None else value
        elif "template" in fields:
            built[name] = _render(str(fields["template"]), TemplateCategory.BASIC, variables, extra)
        else:
            built[name] = _construct(fields, call, views, variables, extra)
    return built


def _from_path(path: str, call: OperatorCall, views: TemplateViews) -> Any:
    root, *segments = path.split(".")
    stuff = call.inputs.get(root)
    if stuff is None:
        return None  # an absent optional input: the field holds nothing
    if not segments:
        base = views.native_base(stuff.concept)
        if stuff.is_list:
            return [natural_value(base, item) for item in stuff.items()]
        return natural_value(base, stuff.content)
    return walk_values(stuff.content, stuff.is_list, segments).value


def _keyed(value: Any, key: str, field: str) -> dict[str, Any]:
    if not isinstance(value, list):
        raise PipeRunError(
            FailureCode.BINDING_FAILED, f"construct field '{field}': 'list_to_dict_keyed_by' needs a list"
        )
    keyed: dict[str, Any] = {}
    for item in cast("list[Any]", value):
        item_key = cast("Mapping[str, Any]", item).get(key) if isinstance(item, Mapping) else None
        if item_key is None:
            raise PipeRunError(
                FailureCode.BINDING_FAILED, f"construct field '{field}': an item has no field '{key}'"
            )
        keyed[str(item_key)] = item
    return keyed
