"""A run's `error` (http-api.md §9.1): the problem document describing how a run ended badly. Pure.

Codes of the HTTP catalogue keep their status, title and next step; the interpreter's own `pipe.*` and
`method.*` run faults are faults of the method as written, so they read as 422 `method` problems.
"""

from __future__ import annotations

from typing import Any

from shared.problems.bounds import bounded_problem
from shared.problems.catalogue import CATALOGUE, ProblemCode, ProblemSpec
from shared.runtime.run_failure import PipeRunError

_METHOD_FAULT = ProblemSpec(
    422, "method", "no", "The method failed while running", "change_method", "Fix the pipe named in 'location', then run again."
)  # fmt: skip


def spec_of(code: str) -> ProblemSpec:
    try:
        return CATALOGUE[ProblemCode(code)]
    except ValueError:
        return _METHOD_FAULT


def type_uri(code: str) -> str:
    try:
        return ProblemCode(code).type_uri
    except ValueError:
        return f"https://mthds.ai/errors/{code}"


def run_error(
    code: str,
    detail: str,
    *,
    pipeline_run_id: str,
    params: dict[str, Any] | None = None,
    location: dict[str, Any] | None = None,
    retry: str | None = None,
) -> tuple[dict[str, Any], int]:
    """The run's problem document (no `status`: it describes the run) and the status `/execute` answers;
    `retry` overrides the catalogue's advice when the failure itself knows better."""
    spec = spec_of(code)
    document: dict[str, Any] = {
        "type": type_uri(code),
        "title": spec.title,
        "detail": detail,
        "code": code,
        "domain": spec.domain,
        "retry": retry or spec.retry,
        "next_step": {"kind": spec.next_step, "detail": spec.next_step_detail},
    }
    kept_params = {key: value for key, value in (params or {}).items() if value is not None}
    if kept_params:
        document["params"] = kept_params
    if location:
        document["location"] = location
    document["pipeline_run_id"] = pipeline_run_id
    # Bounded as every problem: a failure's message or params can carry a provider's whole answer.
    return bounded_problem(document), spec.status or 500


def failure_error(
    failure: PipeRunError, *, pipeline_run_id: str, path: list[str] | None = None
) -> tuple[dict[str, Any], int]:
    """The run error of a pipe failure, located at the failing pipe."""
    location: dict[str, Any] = {}
    if failure.pipe:
        location = {"pipe": failure.pipe, "path": path or [failure.pipe]}
    params = {**failure.params, **({"pipe": failure.pipe} if failure.pipe else {})}
    detail = failure.message if failure.message.endswith(".") else f"{failure.message}."
    # A provider code the catalogue calls retryable may come from a fault retrying cannot fix (no key
    # configured, a request the provider refuses): the failure's own flag says so.
    spec = spec_of(failure.code)
    retry = (
        "no"
        if spec.retry == "yes" and not failure.retryable and failure.code.startswith("provider.")
        else None
    )
    return run_error(
        failure.code,
        detail[0].upper() + detail[1:],
        pipeline_run_id=pipeline_run_id,
        params=params,
        location=location,
        retry=retry,
    )
