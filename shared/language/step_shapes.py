"""Shape rules of sequence steps and parallel branches: binding steps, stored names, batch names. Pure.

These faults carry specific error types (`binding_step_invalid`, `invalid_input_name`,
`batch_item_name_collision`) that a generic closed-model check would flatten, so they run first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from shared.language import names
from shared.language.issues import ErrorType

_PIPE_STEP_ONLY = ("nb_output", "multiple_output", "batch_over", "batch_as")


@dataclass(frozen=True)
class StepShapeFault:
    """One fault in the step at `index`."""

    index: int
    message: str
    error_type: ErrorType | None


def step_shape_faults(raw_steps: Any, *, in_parallel: bool) -> list[StepShapeFault]:
    """Every shape fault of a `steps` (sequence) or `branches` (parallel) array."""
    if not isinstance(raw_steps, list):
        return []
    faults: list[StepShapeFault] = []
    for index, raw in enumerate(cast(list[Any], raw_steps)):
        if not isinstance(raw, dict):
            continue
        step = cast(dict[str, Any], raw)
        found = _binding_faults(step, in_parallel) if "from" in step else _pipe_step_faults(step, in_parallel)
        faults.extend(StepShapeFault(index, message, error_type) for message, error_type in found)
    return faults


def _binding_faults(step: dict[str, Any], in_parallel: bool) -> list[tuple[str, ErrorType]]:
    invalid = ErrorType.BINDING_STEP_INVALID
    if in_parallel:
        return [
            ("a parallel branch always runs a pipe; bind values in a sequence before the parallel", invalid)
        ]
    found: list[tuple[str, ErrorType]] = []
    if "pipe" in step:
        found.append(
            ("a step carries either 'pipe' (runs a pipe) or 'from' (binds a value), not both", invalid)
        )
    extra = [key for key in _PIPE_STEP_ONLY if key in step]
    if extra:
        found.append((f"a binding step carries only 'from' and 'result', not {', '.join(extra)}", invalid))
    source = step["from"]
    if not isinstance(source, str) or not names.is_binding_path(source):
        found.append((f"'from' = {source!r} is not a path (field names separated by single dots)", invalid))
    result = step.get("result")
    if result is None:
        found.append(("a binding step needs a 'result' naming the value it binds", invalid))
    elif not isinstance(result, str) or not names.is_input_name(result):
        found.append((f"binding result {result!r} must be a plain snake_case name", invalid))
    return found


def _pipe_step_faults(step: dict[str, Any], in_parallel: bool) -> list[tuple[str, ErrorType | None]]:
    found: list[tuple[str, ErrorType | None]] = []
    result = step.get("result")
    if isinstance(result, str) and not names.is_input_name(result):
        found.append((f"result '{result}' must be a plain snake_case name", ErrorType.INVALID_INPUT_NAME))
    batch_over, batch_as = step.get("batch_over"), step.get("batch_as")
    if (batch_over is None) != (batch_as is None):
        found.append(("'batch_over' and 'batch_as' go together", None))
    if isinstance(batch_over, str):
        if "." in batch_over:
            if in_parallel:
                message = "a dotted 'batch_over' binds, and a parallel branch never binds"
                found.append((message, ErrorType.BINDING_STEP_INVALID))
            elif not names.is_binding_path(batch_over):
                message = (
                    f"dotted 'batch_over' = '{batch_over}' is not a path (names separated by single dots)"
                )
                found.append((message, ErrorType.BINDING_STEP_INVALID))
        elif batch_over.startswith(names.BOUND_PREFIX) or not batch_over:
            found.append(
                (f"'batch_over' = '{batch_over}' is not a usable name", ErrorType.INVALID_INPUT_NAME)
            )
    if isinstance(batch_as, str):
        if not names.is_input_name(batch_as):
            found.append(
                (f"'batch_as' = '{batch_as}' must be a plain snake_case name", ErrorType.INVALID_INPUT_NAME)
            )
        elif batch_as == batch_over:
            found.append(
                (f"'batch_as' and 'batch_over' are both '{batch_as}'", ErrorType.BATCH_ITEM_NAME_COLLISION)
            )
    return found
