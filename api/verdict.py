"""The `/v1/validate` verdict (http-api.md §8.1): a `ValidationReport` in the wire's two arms.

Members asked for by `render` / `views` are present only when asked; the others are always present
(`null` when empty, as success bodies write them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from shared.language.issues import Issue
from shared.language.report import BundleSource, ValidatedPipe, ValidationReport
from shared.tooling.input_forms import input_form, output_form

VALID_MESSAGE = "MTHDS content validated successfully"
INVALID_MESSAGE = "The method does not validate."

ProblemItem = dict[str, Any]


class ValidVerdict(BaseModel):
    """The valid arm: what the method offers."""

    is_valid: Literal[True] = True
    warnings: list[ProblemItem] = Field(description="Problem items that do not prevent running.")
    bundle_blueprint: dict[str, Any] | None = Field(description="The first bundle's blueprint.")
    pipe_io_contracts: dict[str, dict[str, Any]] = Field(
        description="Inputs and output of each pipe, by ref."
    )
    graph_spec: None = None
    validated_pipes: list[ValidatedPipe]
    pending_signatures: list[str]
    is_runnable: bool
    default_pipe_ref: str | None
    mthds_contents: list[str] = Field(description="The bundle texts, as validated.")
    message: str = VALID_MESSAGE
    rendered_markdown: str | None = Field(default=None, description="Present when `render` has 'markdown'.")
    input_form: dict[str, Any] | None = Field(default=None, description="Present when `views` has it.")
    output_form: dict[str, Any] | None = Field(default=None, description="Present when `views` has it.")


class InvalidVerdict(BaseModel):
    """The invalid arm: every fault found, together."""

    is_valid: Literal[False] = False
    errors: list[ProblemItem] = Field(description="Problem items: code, detail, params, location.")
    warnings: list[ProblemItem]
    pending_signatures: list[str]
    is_runnable: Literal[False] = False
    message: str = INVALID_MESSAGE
    rendered_markdown: str | None = Field(default=None, description="Present when `render` has 'markdown'.")


ValidationVerdict = ValidVerdict | InvalidVerdict


def verdict_body(
    report: ValidationReport, sources: Sequence[BundleSource], *, render: Sequence[str], views: Sequence[str]
) -> dict[str, Any]:
    """The 200 body for `report`; unknown `render` and `views` tokens are ignored."""
    absent: set[str] = set()
    markdown = render_markdown(report) if "markdown" in render else None
    if markdown is None:
        absent.add("rendered_markdown")
    warnings = [issue.to_problem_item() for issue in report.warnings]
    if not report.is_valid:
        invalid = InvalidVerdict(
            errors=[issue.to_problem_item() for issue in report.issues],
            warnings=warnings,
            pending_signatures=list(report.pending_signatures),
            rendered_markdown=markdown,
        )
        return invalid.model_dump(mode="json", exclude=absent)
    absent.update(view for view in ("input_form", "output_form") if view not in views)
    library = report.library
    valid = ValidVerdict(
        warnings=warnings,
        bundle_blueprint=report.bundle_blueprints[0] if report.bundle_blueprints else None,
        pipe_io_contracts=dict(report.pipe_io_contracts),
        validated_pipes=list(report.validated_pipes),
        pending_signatures=list(report.pending_signatures),
        is_runnable=report.is_runnable,
        default_pipe_ref=report.default_pipe_ref,
        mthds_contents=[source.text for source in sources],
        rendered_markdown=markdown,
        # The MTHDS form views, as `/v1/pipe-io` answers them, for every pipe of the contracts.
        input_form=(
            input_form(library, report.bundle_blueprints, report.pipe_io_contracts)
            if library is not None and "input_form" in views
            else None
        ),
        output_form=(
            output_form(library, report.bundle_blueprints, report.pipe_io_contracts)
            if library is not None and "output_form" in views
            else None
        ),
    )
    return valid.model_dump(mode="json", exclude=absent)


def render_markdown(report: ValidationReport) -> str:
    """A short human report: faults with their place, or the pipes that validated."""
    if not report.is_valid:
        lines = ["## Invalid", "", f"{len(report.issues)} fault(s) found:", ""]
        lines += [f"- `{item['code']}`{_where(item)}: {item['detail']}" for item in _items(report.issues)]
    else:
        lines = ["## Valid", "", f"{len(report.validated_pipes)} pipe(s) validated:", ""]
        lines += [f"- `{pipe.pipe_ref}`: {pipe.status.value}" for pipe in report.validated_pipes]
        if report.default_pipe_ref is not None:
            lines += ["", f"Default pipe: `{report.default_pipe_ref}`"]
    if report.pending_signatures:
        lines += ["", "Pending signatures:", ""]
        lines += [f"- `{signature}`" for signature in report.pending_signatures]
    if report.warnings:
        lines += ["", "Warnings:", ""]
        lines += [f"- `{item['code']}`{_where(item)}: {item['detail']}" for item in _items(report.warnings)]
    return "\n".join(lines) + "\n"


def _items(issues: Sequence[Issue]) -> list[ProblemItem]:
    return [issue.to_problem_item() for issue in issues]


def _where(item: ProblemItem) -> str:
    location: dict[str, Any] = item.get("location", {})
    place = ":".join(str(location[key]) for key in ("file", "line", "column") if key in location)
    parts = [part for part in (place, f"pipe `{location['pipe']}`" if "pipe" in location else "") if part]
    return f" ({', '.join(parts)})" if parts else ""
