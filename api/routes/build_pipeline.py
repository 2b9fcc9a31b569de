"""`POST /v1/build/pipeline` (and the legacy `/api/v1/pipe-builder/build`): a brief becomes a validated bundle,
on Temporal (http-api.md §11.1, issue 16).

A build is a run of the builder's own method (`shared/builder/builder.mthds`), submitted like any
`/v1/start`: its steps show in progress and events, callbacks and idempotency work as for any run,
and `"async": true` answers 202 with its run id. Waiting (the default), the route answers with the
build once the run ends, within `BUILD_TIMEOUT_SECONDS` (else 504 `provider.timeout` naming the run,
which goes on and stays readable through the run routes).

Decisions beyond §11.1: `usage` (tokens and cost of the build's model calls) and `pipeline_run_id`
are added to the answer; `output_description` and `example_inputs` steer the draft; a brief over
`MAX_BRIEF_CHARS` is a 413 `request.too_large` (a size limit, like a bundle's), an empty one a 422.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.build_answer import build_answer
from api.deps import CallerDep, GatewayDep, ModelDeckDep, SettingsDep, ValidationCacheDep
from api.openapi_bodies import request_body
from api.problems import ProblemError, request_invalid, request_too_large
from api.request_body import parse_request, read_json_object
from api.run_bodies import start_body, stored_memory_of, tokens_usages_of
from api.run_submission import submit_run_data
from api.run_waiting import completed_run
from api.settings import ApiSettings
from shared.builder.builder_method import brief_inputs, builder_bundle
from shared.language.model_deck import ModelDeck, ModelFamily
from shared.problems.catalogue import ProblemCode
from shared.runs.run_states import RunState

router = APIRouter(tags=["build"])

_DOMAIN = re.compile(r"[a-z][a-z0-9_]*")


class BuildPipelineRequest(BaseModel):
    """A brief and how to build it."""

    model_config = ConfigDict(strict=True, extra="ignore", populate_by_name=True)

    brief: str = Field(
        description="The pipeline wanted, in natural language (1 to MAX_BRIEF_CHARS characters)."
    )
    domain: str | None = Field(default=None, description="The domain code the bundle must use (snake_case).")
    model: str | None = Field(
        default=None, description="The builder's model, a deck reference (default BUILDER_MODEL)."
    )
    max_repairs: int | None = Field(
        default=None,
        ge=0,
        le=5,
        description="Repair rounds after the first draft (default BUILDER_MAX_REPAIRS).",
    )
    output_description: str | None = Field(default=None, description="What the main pipe must produce.")
    example_inputs: dict[str, Any] | None = Field(
        default=None, description="Example inputs of the main pipe."
    )
    run_async: bool = Field(
        default=False,
        alias="async",
        description="Answer 202 with the build's run id at once (default: wait).",
    )
    callback_urls: list[str] | None = Field(default=None, description="Told when the build's run ends (§10).")
    pipeline_run_id: str | None = Field(default=None, description="The build's run id (default: a new UUID).")


_REQUEST_BODY = request_body(BuildPipelineRequest)


def _checked(fields: BuildPipelineRequest, settings: ApiSettings, deck: ModelDeck) -> str:
    """Refusals beyond the schema; the builder's model reference."""
    if not fields.brief.strip():
        raise request_invalid(field="brief", reason="the brief is empty; describe the pipeline wanted.")
    if len(fields.brief) > settings.max_brief_chars:
        raise request_too_large(
            detail=f"The brief has {len(fields.brief)} characters; this service accepts at most "
            f"{settings.max_brief_chars}.",
            field="brief",
            limit=settings.max_brief_chars,
            size=len(fields.brief),
        )
    if fields.domain is not None and not _DOMAIN.fullmatch(fields.domain):
        raise request_invalid(
            field="domain", reason="a domain code is snake_case, such as 'invoice_reading'."
        )
    model = fields.model or settings.builder_model
    if not deck.knows(ModelFamily.LLM, model):
        if fields.model is not None:
            raise request_invalid(field="model", reason=f"the model deck has no llm model '{model}'.")
        raise ProblemError(
            ProblemCode.RUNTIME_UNSUPPORTED,
            f"This service cannot build pipelines: its builder model '{model}' (BUILDER_MODEL) is not an "
            "llm model of its deck.",
            params={"capability": "pipeline building"},
        )
    return model


async def _build(
    request: Request,
    caller: CallerDep,
    settings: ApiSettings,
    deck: ModelDeck,
    verdicts: ValidationCacheDep,
    gateway: GatewayDep,
    *,
    legacy: bool,
) -> JSONResponse:
    fields = parse_request(BuildPipelineRequest, await read_json_object(request))
    model = _checked(fields, settings, deck)
    run_request: dict[str, Any] = {
        "mthds_content": builder_bundle(model),
        "inputs": brief_inputs(
            brief=fields.brief,
            domain=fields.domain,
            output_description=fields.output_description,
            example_inputs=fields.example_inputs,
            max_repairs=settings.builder_max_repairs if fields.max_repairs is None else fields.max_repairs,
        ),
    }
    if fields.callback_urls is not None:
        run_request["callback_urls"] = fields.callback_urls
    if fields.pipeline_run_id is not None:
        run_request["pipeline_run_id"] = fields.pipeline_run_id
    submission = await submit_run_data(request, run_request, caller, settings, verdicts, gateway)
    run_id = submission.run_id
    if fields.run_async:
        body = start_body(run_id, submission.workflow_id, submission.created_at, RunState.STARTED, None)
        return JSONResponse(body, status_code=202, headers={"Location": f"/v1/runs/{run_id}"})
    client = await gateway.client()
    end = await completed_run(client, submission, caller, settings.build_timeout_seconds)
    if end is None:
        raise ProblemError(
            ProblemCode.PROVIDER_TIMEOUT,
            f"The build did not end within {settings.build_timeout_seconds:g} s; its run '{run_id}' goes on "
            "and can be read through the run routes.",
            params={"pipeline_run_id": run_id},
        )
    store = settings.blob_store
    memory = await run_in_threadpool(stored_memory_of, end, store)
    usages = await run_in_threadpool(tokens_usages_of, end, store)
    draft: dict[str, Any] = memory["root"][end.main_stuff_name]["content"]
    body = await run_in_threadpool(lambda: build_answer(draft, usages, run_id, deck, legacy=legacy))
    return JSONResponse(body)


@router.post("/v1/build/pipeline", openapi_extra={"requestBody": _REQUEST_BODY})
async def build_pipeline(
    request: Request,
    caller: CallerDep,
    settings: SettingsDep,
    deck: ModelDeckDep,
    verdicts: ValidationCacheDep,
    gateway: GatewayDep,
) -> JSONResponse:
    """Build a bundle from a brief: 200 with the bundle and its verdict, or 202 with the run id (`async`)."""
    return await _build(request, caller, settings, deck, verdicts, gateway, legacy=False)


@router.post("/api/v1/pipe-builder/build", openapi_extra={"requestBody": _REQUEST_BODY})
async def legacy_build_pipeline(
    request: Request,
    caller: CallerDep,
    settings: SettingsDep,
    deck: ModelDeckDep,
    verdicts: ValidationCacheDep,
    gateway: GatewayDep,
) -> JSONResponse:
    """Legacy alias of `POST /v1/build/pipeline`, adding `plx_content`, `pipelex_bundle_blueprint`,
    `pipe_structures` and `success`."""
    return await _build(request, caller, settings, deck, verdicts, gateway, legacy=True)
