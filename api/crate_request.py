"""The method of a tooling or build request (`/v1/pipe-io`, `/v1/resolve`, `/v1/codegen`, `/v1/build/*`):
read, validated, and the pipe it selects.

The reference's crate routes take `files` or `method_ref`; we also take every source `/v1/validate`
takes (`mthds_contents`, `mthds_content`, `plx_content`), a deliberate extension. `method_ref` names a
remote method this service never fetches (it reaches no registry), so it is refused as unsupported.
An invalid method is a 200 verdict, `{"is_valid": false, "errors", "message"}` (the reference's
`CrateInvalidReport`), never a 4xx: these routes are diagnostic, as `/v1/validate` is.
"""

from __future__ import annotations

from functools import partial
from typing import Any, TypeVar

from fastapi import Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from api.method_source import MethodSourceFields, bundle_sources
from api.problems import ProblemError
from api.request_body import parse_request, read_json_object
from api.run_submission import input_refused
from api.settings import ApiSettings
from api.verdict import INVALID_MESSAGE
from shared.language.model_deck import ModelDeck
from shared.language.report import BundleSource, ValidationReport
from shared.language.validator import validate_sources
from shared.problems.catalogue import ProblemCode
from shared.runtime.caller_inputs import InputRefused
from shared.runtime.run_pipeline import select_pipe
from shared.storage.method_blobs import MethodBlobReader


class CrateMethodFields(MethodSourceFields):
    """The method members of a tooling request; the route's own members extend this."""

    method_ref: str | None = Field(
        default=None,
        description="A remote method address. Refused: this service fetches no remote methods; send 'files'.",
    )


_Fields = TypeVar("_Fields", bound=CrateMethodFields)


def method_ref_refused() -> ProblemError:
    """422 `request.unsupported`: `method_ref` would need a fetch from a registry this service never calls."""
    return ProblemError(
        ProblemCode.REQUEST_UNSUPPORTED,
        "This service does not fetch methods by 'method_ref'; send the method's files in 'files'.",
        params={"field": "method_ref", "reason": "method_ref_not_served"},
        location={"field": "method_ref"},
    )


def crate_sources(
    fields: CrateMethodFields, settings: ApiSettings, *, blobs: MethodBlobReader
) -> list[BundleSource]:
    """The bundles of the request's method; `ProblemError` when it carries none usable.

    `blobs`: the caller's method blobs (`api.method_source.MethodBlobsDep`), where `files` hash entries
    are read. Required, so that no route forgets them and refuses every hash entry.
    """
    if fields.method_ref is not None:
        raise method_ref_refused()
    return bundle_sources(fields, settings, refuse_custom_code=False, blobs=blobs)


async def read_crate_sources(
    fields: CrateMethodFields, settings: ApiSettings, blobs: MethodBlobReader
) -> list[BundleSource]:
    """`crate_sources` off the event loop: reading blobs may be network I/O (an S3 store)."""
    return await run_in_threadpool(crate_sources, fields, settings, blobs=blobs)


async def validated(sources: list[BundleSource], deck: ModelDeck, *, dry_run: bool) -> ValidationReport:
    """The verdict on `sources`, computed off the event loop (validation is CPU-bound); `dry_run=False`
    for the routes that describe a method (pipe-io, resolve, codegen), which the reference answers
    from the static checks alone."""
    return await run_in_threadpool(partial(validate_sources, sources, deck, dry_run=dry_run))


def invalid_arm(report: ValidationReport) -> dict[str, Any]:
    """The 200 answer for a method that does not validate: every fault, together."""
    return {
        "is_valid": False,
        "errors": [issue.to_problem_item() for issue in report.issues],
        "message": INVALID_MESSAGE,
    }


def selected_pipe(report: ValidationReport, pipe_ref: str | None) -> str:
    """The qualified ref of the pipe `pipe_ref` names (bare code or `domain.code`), else the method's
    `main_pipe`: 422 `request.pipe_unspecified` / `request.pipe_not_found` / `request.pipe_ambiguous`."""
    if report.library is None:
        msg = "selected_pipe needs a valid report, which carries its library"
        raise ValueError(msg)
    try:
        return select_pipe(report.library, report.default_pipe_ref, pipe_ref)
    except InputRefused as refused:
        if refused.code == ProblemCode.REQUEST_PIPE_UNSPECIFIED:
            candidates = sorted(ref for ref, entry in report.library.pipes.items() if not entry.is_signature)
            refused.params["candidates"] = candidates[:50]
        raise input_refused(refused) from refused


async def request_fields(request: Request, model: type[_Fields]) -> _Fields:
    """The request's body as `model` (422 `request.invalid` naming the first bad field)."""
    return parse_request(model, await read_json_object(request))
