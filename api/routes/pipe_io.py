"""`POST /v1/pipe-io`: the inputs and output of a method's pipes, with their forms (reference pipelex-api 0.92.2).

The valid arm carries three maps with one key set (the selected pipe, or every pipe under `all_pipes`):
`pipe_io_contracts`, `input_form` and `output_form`. It is written without dropping nulls, as the
reference writes it (a contract's `item_count: null` stays). An invalid method is the crate routes'
200 invalid arm; a selection that finds no pipe is a 422 (`request.pipe_not_found`/`_unspecified`).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.auth import authenticate
from api.crate_request import (
    CrateMethodFields,
    invalid_arm,
    read_crate_sources,
    request_fields,
    selected_pipe,
    validated,
)
from api.deps import ModelDeckDep, SettingsDep
from api.method_source import MethodBlobsDep
from api.openapi_bodies import request_body
from api.problems import ProblemError
from shared.language.library import Library
from shared.language.report import BundleSource, ValidationReport
from shared.problems.catalogue import ProblemCode
from shared.tooling.input_forms import input_form, output_form

# Every route here is authenticated (§3b); the dependency runs before a handler reads the body.
router = APIRouter(tags=["pipe-io"], dependencies=[Depends(authenticate)])

MAX_PIPE_REF_CHARS = 256


class PipeIORequest(CrateMethodFields):
    """The method, a pipe selector and the whole-method and echo opt-ins."""

    pipe_ref: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_PIPE_REF_CHARS,
        description="The pipe to describe, `domain.pipe_code` or a bare code; default the method's `main_pipe`.",
    )
    all_pipes: bool = Field(
        default=False,
        strict=False,
        description="Describe every pipe of the method; `pipe_ref` is then the requested ref, else the "
        "method's entry pipe, else null, and no selection is refused for want of an entry pipe.",
    )
    include_files: bool = Field(
        default=False,
        strict=False,
        description="Echo the method's bundles as `files: {path: text}` (absent unless true).",
    )


class PipeIOValid(BaseModel):
    """The valid arm: the three artifact maps share one key set."""

    is_valid: Literal[True] = True
    pipe_ref: str | None = Field(
        description="The qualified ref the selection resolved; null only under `all_pipes`."
    )
    pipe_io_contracts: dict[str, dict[str, Any]]
    input_form: dict[str, dict[str, Any]] = Field(description="MTHDS input-form descriptors, by pipe ref.")
    output_form: dict[str, dict[str, Any]] = Field(description="MTHDS output-form descriptors, by pipe ref.")
    default_pipe_ref: str | None = Field(description="The method's own entry pipe (its single `main_pipe`).")
    pending_signatures: list[str]
    is_runnable: bool
    files: dict[str, str] | None = Field(default=None, description="Present only with `include_files: true`.")


class CrateInvalid(BaseModel):
    """The invalid arm: every fault found, together."""

    is_valid: Literal[False] = False
    errors: list[dict[str, Any]] = Field(description="Problem items: code, detail, params, location.")
    message: str


# The body is parsed from raw bytes, so FastAPI cannot infer its schema from the signature.
_REQUEST_BODY = request_body(PipeIORequest)


@router.post(
    "/v1/pipe-io", response_model=PipeIOValid | CrateInvalid, openapi_extra={"requestBody": _REQUEST_BODY}
)
async def pipe_io(
    request: Request, settings: SettingsDep, deck: ModelDeckDep, blobs: MethodBlobsDep
) -> JSONResponse:
    """A method's pipe I/O contracts, input form and output form (no dry run; pipelex-api extension)."""
    fields = await request_fields(request, PipeIORequest)
    sources = await read_crate_sources(fields, settings, blobs)
    report = await validated(sources, deck, dry_run=False)
    if not report.is_valid:
        return JSONResponse(invalid_arm(report))
    return JSONResponse(await run_in_threadpool(_valid_arm, report, fields, sources))


def _valid_arm(
    report: ValidationReport, fields: PipeIORequest, sources: list[BundleSource]
) -> dict[str, Any]:
    library = _library(report)
    if fields.all_pipes:
        # A requested ref is still resolved (and refused when it names nothing); no ref needs no entry pipe.
        pipe_ref = (
            describable_pipe(report, fields.pipe_ref)
            if fields.pipe_ref is not None
            else report.default_pipe_ref
        )
        refs = list(library.pipes)
    else:
        pipe_ref = describable_pipe(report, fields.pipe_ref)
        refs = [pipe_ref]
    contracts = {ref: report.pipe_io_contracts[ref] for ref in refs}
    pending = sorted(report.pending_signatures)
    body: dict[str, Any] = {
        "is_valid": True,
        "pipe_ref": pipe_ref,
        "pipe_io_contracts": contracts,
        "input_form": input_form(library, report.bundle_blueprints, contracts),
        "output_form": output_form(library, report.bundle_blueprints, contracts),
        "default_pipe_ref": report.default_pipe_ref,
        "pending_signatures": pending,
        "is_runnable": not pending,
    }
    if fields.include_files:
        body["files"] = {source.path: source.text for source in sources}
    return body


def describable_pipe(report: ValidationReport, pipe_ref: str | None) -> str:
    """The qualified ref `pipe_ref` names, a pending signature included (its contract is known), else
    the method's `main_pipe`; the refusals are `selected_pipe`'s, whose candidates name every pipe."""
    library = _library(report)
    if pipe_ref is not None:
        named = [ref for ref, entry in library.pipes.items() if pipe_ref in (ref, entry.code)]
        if len(named) == 1:
            return named[0]
    try:
        return selected_pipe(report, pipe_ref)
    except ProblemError as refusal:
        if refusal.code == ProblemCode.REQUEST_PIPE_UNSPECIFIED:
            refusal.params["candidates"] = sorted(library.pipes)[:50]
        raise


def _library(report: ValidationReport) -> Library:
    if report.library is None:
        msg = "a valid report carries its library"
        raise ValueError(msg)
    return report.library
