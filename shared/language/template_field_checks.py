"""The advisory lint of templates reading fields their inputs' concepts do not declare (validation warnings).

Pure. Runs over a library that validated: every template a pipe renders (prompts, system prompts, questions,
PipeCompose templates and construct templates, PipeDocGen templates, PipeCondition expressions) is walked
by `template_field_reads`, and each unknown field read becomes one warning. The reference accepts such
bundles silently, so these are warnings only: they never change `is_valid`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from shared.language.check_context import CheckContext
from shared.language.issues import Category, Issue
from shared.language.library import PipeEntry
from shared.language.pipe_blueprints import ComposeTemplate, PipeCompose, PipeCondition, PipeLLM
from shared.language.pipe_templates import rendered_templates
from shared.language.template_analysis import TemplateSyntaxFault, parse_expression, parse_template
from shared.language.template_field_reads import unknown_field_reads
from shared.language.template_shapes import ConceptShapes, FieldHolder

# The problem code of a path the declared structures cannot walk, as for bindings (mthds.md §5.2).
FIELD_PATH_UNRESOLVED = "method.field_path_unresolved"


@dataclass(frozen=True)
class _Source:
    field: str
    text: str
    sigils: bool = True
    is_expression: bool = False
    shadowed: frozenset[str] = frozenset()


def template_field_warnings(context: CheckContext) -> list[Issue]:
    """One warning per distinct unknown field read, per template field, over every concrete pipe."""
    shapes = ConceptShapes(context.library)
    warnings: list[Issue] = []
    for entry in context.library.pipes.values():
        if entry.is_signature:
            continue
        inputs = {
            name: FieldHolder(ref, spec.is_list)
            for name, (spec, ref) in context.contract(entry).inputs.items()
            if ref is not None
        }
        for source in _sources(entry):
            warnings += _source_warnings(entry, source, shapes, inputs)
    return warnings


def _source_warnings(
    entry: PipeEntry, source: _Source, shapes: ConceptShapes, inputs: Mapping[str, FieldHolder]
) -> list[Issue]:
    try:
        tree = (
            parse_expression(source.text)
            if source.is_expression
            else parse_template(source.text, sigils=source.sigils)
        )
    except TemplateSyntaxFault:
        return []  # a template that does not parse was reported as a fault already
    visible = {name: held for name, held in inputs.items() if name not in source.shadowed}
    return [
        Issue(
            category=Category.PIPE,
            code=FIELD_PATH_UNRESOLVED,
            message=f"Pipe '{entry.code}' reads '{read.path}' in its {source.field}, but {read.message} "
            "A run fails when the template renders this read.",
            file=entry.file,
            pipe=entry.code,
            concept=read.concept,
            domain=entry.domain,
            field=source.field,
            params={"path": read.path, "field": read.field},
            suggestions=(read.suggestion,) if read.suggestion is not None else (),
        )
        for read in unknown_field_reads(tree, shapes, visible)
    ]


def _sources(entry: PipeEntry) -> Iterator[_Source]:
    """Every template the pipe renders at run time, as the runtime renders it (sigils or not)."""
    blueprint = entry.blueprint
    if isinstance(blueprint, PipeCondition):
        if blueprint.expression is not None:
            yield _Source("expression", blueprint.expression, sigils=False, is_expression=True)
        elif blueprint.expression_template is not None:
            yield _Source("expression_template", blueprint.expression_template, sigils=False)
        return
    shadowed: frozenset[str] = frozenset()
    if isinstance(blueprint, PipeCompose) and isinstance(blueprint.template, ComposeTemplate):
        # Names of `extra_context` are given at render time and win over inputs of the same name.
        shadowed = frozenset(blueprint.template.extra_context or {})
    templates, _ = rendered_templates(blueprint)
    for template in templates:
        yield _Source(
            template.field,
            template.source,
            shadowed=shadowed if template.field == "template" else frozenset(),
        )
    if isinstance(blueprint, PipeLLM) and blueprint.system_prompt is None and entry.system_prompt is not None:
        yield _Source("system_prompt", entry.system_prompt)  # the bundle's, which the pipe inherits
