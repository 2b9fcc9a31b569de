"""Per-pipe blueprint rules that need no library: input names, concept specs, batch names. Pure."""

from __future__ import annotations

from collections.abc import Callable

from shared.language import names
from shared.language.concept_spec import ConceptSpecError, parse_concept_spec
from shared.language.issues import Category, ErrorType, Issue
from shared.language.library import PipeEntry
from shared.language.pipe_blueprints import PipeBatch


def blueprint_issues(entry: PipeEntry) -> list[Issue]:
    """Faults of one pipe's declared names and specs, in declaration order."""
    found: list[Issue] = []

    def add(error_type: ErrorType | None, message: str, where: str) -> None:
        found.append(
            Issue(
                category=Category.BLUEPRINT,
                error_type=error_type,
                message=f"Pipe '{entry.code}': {message}",
                file=entry.file,
                pipe=entry.code,
                domain=entry.domain,
                field=f"pipe.{entry.code}.{where}",
                line=entry.line,
            )
        )

    specs = entry.input_specs()
    for name, spec in specs.items():
        if not names.is_input_name(name):
            add(
                ErrorType.INVALID_INPUT_NAME,
                f"input name '{name}' must be plain snake_case, never dotted.",
                "inputs",
            )
        _check_spec(add, spec, f"inputs.{name}", is_output=False)
    _check_spec(add, entry.blueprint.output, "output", is_output=True)
    blueprint = entry.blueprint
    if isinstance(blueprint, PipeBatch):
        item, listed = blueprint.input_item_name, blueprint.input_list_name
        if not names.is_input_name(item):
            add(
                ErrorType.INVALID_INPUT_NAME,
                f"input_item_name '{item}' must be plain snake_case.",
                "input_item_name",
            )
        elif item == listed or item in specs:
            add(
                ErrorType.BATCH_ITEM_NAME_COLLISION,
                f"input_item_name '{item}' collides with the list or another input of the same name.",
                "input_item_name",
            )
        if not names.is_input_name(listed):
            add(
                ErrorType.INVALID_INPUT_NAME,
                f"input_list_name '{listed}' must be plain snake_case.",
                "input_list_name",
            )
        elif listed not in specs:
            add(
                ErrorType.MISSING_INPUT_VARIABLE,
                f"input_list_name '{listed}' is not one of its inputs.",
                "input_list_name",
            )
    return found


def _check_spec(
    add: Callable[[ErrorType | None, str, str], None], spec: str, where: str, *, is_output: bool
) -> None:
    try:
        parse_concept_spec(spec, is_output=is_output)
    except ConceptSpecError as fault:
        add(fault.error_type, fault.message, where)
