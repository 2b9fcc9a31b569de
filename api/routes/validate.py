"""`POST /v1/validate` and its legacy aliases (http-api.md §8.1, §12): every verdict is a 200."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from api.auth import authenticate
from api.deps import ModelDeckDep, SettingsDep
from api.method_source import MethodBlobsDep, MethodSourceFields, bundle_sources
from api.openapi_bodies import request_body
from api.request_body import parse_request, read_json_object
from api.settings import ApiSettings
from api.verdict import ValidationVerdict, verdict_body
from shared.language.model_deck import ModelDeck
from shared.language.report import BundleSource
from shared.language.validator import validate_sources
from shared.storage.method_blobs import MethodBlobs

# Every route here is authenticated (§3b); the dependency runs before a handler reads the body.
router = APIRouter(tags=["validate"], dependencies=[Depends(authenticate)])


class ValidateRequest(MethodSourceFields):
    """One method source plus verdict options; `pipe_code` and unknown members are ignored."""

    allow_signatures: bool | None = Field(
        default=None, description="Accept pipes whose signatures are still pending (default false)."
    )
    render: list[str] | None = Field(default=None, description="'markdown' adds `rendered_markdown`.")
    views: list[str] | None = Field(
        default=None, description="'input_form', 'output_form' add those members."
    )


# The body is parsed from raw bytes (JSON whatever the Content-Type), so FastAPI cannot infer its
# schema from the signature; the OpenAPI document gets it from the model here.
_REQUEST_BODY = request_body(ValidateRequest)


async def _validate(
    request: Request, settings: ApiSettings, deck: ModelDeck, blobs: MethodBlobs
) -> tuple[dict[str, Any], list[BundleSource]]:
    fields = parse_request(ValidateRequest, await read_json_object(request))
    # Off the event loop: hash entries are read from the blob store.
    sources = await run_in_threadpool(bundle_sources, fields, settings, refuse_custom_code=False, blobs=blobs)
    # Validation is CPU-bound: a worker thread keeps the event loop answering other requests.
    report = await run_in_threadpool(
        validate_sources, sources, deck, allow_signatures=bool(fields.allow_signatures)
    )
    return verdict_body(report, sources, render=fields.render or (), views=fields.views or ()), sources


@router.post(
    "/v1/validate",
    response_model=ValidationVerdict,
    openapi_extra={"x-mthds-protocol": True, "requestBody": _REQUEST_BODY},
)
async def validate(
    request: Request, settings: SettingsDep, deck: ModelDeckDep, blobs: MethodBlobsDep
) -> JSONResponse:
    """Validate a method: 200 with a verdict discriminated on `is_valid`, valid or not."""
    body, _ = await _validate(request, settings, deck, blobs)
    return JSONResponse(body)


@router.post("/api/v1/pipeline/validate", openapi_extra={"requestBody": _REQUEST_BODY})
@router.post("/api/v1/validate", openapi_extra={"requestBody": _REQUEST_BODY})
async def legacy_validate(
    request: Request, settings: SettingsDep, deck: ModelDeckDep, blobs: MethodBlobsDep
) -> JSONResponse:
    """Legacy alias of `POST /v1/validate`, adding `success`, `plx_content` and `pipelex_bundle_blueprint`."""
    body, sources = await _validate(request, settings, deck, blobs)
    body["success"] = body["is_valid"]
    body["plx_content"] = sources[0].text
    if body["is_valid"]:
        body["pipelex_bundle_blueprint"] = body["bundle_blueprint"]
    return JSONResponse(body)
