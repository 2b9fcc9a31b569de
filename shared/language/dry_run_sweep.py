"""Stage 5, the dry-run sweep: each PipeCondition's expression is rendered over mock inputs. Pure.

This is the part of the reference's dry run (mthds.md §6) that static checks cannot see: an
expression that renders empty or `None` can never choose an outcome. The full interpreter that
dry-runs every pipe end to end replaces this sweep in a later stage of the project.
"""

from __future__ import annotations

from typing import Any

from shared.language.check_context import CheckContext
from shared.language.issues import Category, ErrorType, Issue
from shared.language.library import Library, PipeEntry
from shared.language.mock_content import mock_content, mock_list
from shared.language.model_deck import ModelDeck
from shared.language.natives import NATIVE_DOMAIN
from shared.language.pipe_blueprints import PipeCondition
from shared.language.template_analysis import TemplateCategory
from shared.language.template_render import TemplateRenderFault, render_expression, render_template
from shared.language.template_stuff import TemplateStuff


def dry_run_issues(library: Library) -> list[Issue]:
    """One `DryRunError` issue per pipe whose dry run fails, in declaration order."""
    context = CheckContext(library, ModelDeck())
    issues: list[Issue] = []
    for entry in library.pipes.values():
        if isinstance(entry.blueprint, PipeCondition):
            issue = _dry_run_condition(context, entry, entry.blueprint)
            if issue is not None:
                issues.append(issue)
    return issues


def _dry_run_condition(context: CheckContext, entry: PipeEntry, blueprint: PipeCondition) -> Issue | None:
    variables = _mock_inputs(context, entry)
    try:
        if blueprint.expression is not None:
            rendered = render_expression(blueprint.expression, variables)
        else:
            rendered = render_template(
                blueprint.expression_template or "", TemplateCategory.EXPRESSION, variables, sigils=False
            )
    except TemplateRenderFault as fault:
        return _issue(entry, fault.code, f"its expression fails to render: {fault.message}")
    if rendered == "" or rendered == "None":
        return _issue(
            entry,
            "pipe.condition_unmatched",
            f"its expression renders {'nothing' if rendered == '' else 'None'}, so no outcome can be chosen",
        )
    return None


def _mock_inputs(context: CheckContext, entry: PipeEntry) -> dict[str, Any]:
    variables: dict[str, Any] = {}
    for name, (spec, ref) in context.contract(entry).inputs.items():
        concept = ref or f"{NATIVE_DOMAIN}.Text"
        content = mock_list(context.library, concept, spec.count or 2) if spec.is_list else None
        variables[name] = TemplateStuff(
            concept_code=concept.rpartition(".")[2],
            content=content if content is not None else mock_content(context.library, concept),
            is_list=spec.is_list,
            stuff_name=name,
            stuff_code="DRYRN",
            native_base=_native_base(context.library, concept),
        )
    return variables


def _native_base(library: Library, ref: str) -> str:
    for ancestor in library.lineage(ref):
        if ancestor.startswith(f"{NATIVE_DOMAIN}."):
            return ancestor.rpartition(".")[2]
    return "Structured" if library.structure_of(ref) is not None else "Text"


def _issue(entry: PipeEntry, code: str, why: str) -> Issue:
    return Issue(
        category=Category.DRY_RUN,
        error_type=ErrorType.DRY_RUN_ERROR,
        code=code,
        message=f"Dry run of pipe '{entry.code}' failed: {why}.",
        file=entry.file,
        pipe=entry.code,
        domain=entry.domain,
        field=f"pipe.{entry.code}",
        line=entry.line,
    )
