"""`POST /v1/execute`, `POST /v1/start` and their legacy aliases (http-api.md §5, §6, §12)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.deps import CallerDep, GatewayDep, SettingsDep, ValidationCacheDep
from api.json_stream import stream_json
from api.openapi_bodies import request_body
from api.run_bodies import batch_failures_of, execute_body, start_body, stored_memory_of, tokens_usages_of
from api.run_records import read_run
from api.run_request import RunRequestBody
from api.run_submission import submit_run
from api.run_waiting import completed_run
from shared.runs.run_states import RunState
from shared.runs.workflow_io import RunEnd
from shared.runtime.content_refs import holds_marker
from shared.storage.blob_store import BlobStore

router = APIRouter(tags=["runs"])

_REQUEST_BODY = request_body(RunRequestBody)
_LEGACY_MEMBERS = {"status": "success", "message": None, "error": None, "pipe_structures": None}


async def _start(
    request: Request,
    caller: CallerDep,
    settings: SettingsDep,
    verdicts: ValidationCacheDep,
    gateway: GatewayDep,
) -> JSONResponse:
    submission = await submit_run(request, caller, settings, verdicts, gateway)
    record = submission.record
    if submission.created or record is None:
        body = start_body(
            submission.run_id, submission.workflow_id, submission.created_at, RunState.STARTED, None
        )
        return JSONResponse(body, status_code=202, headers={"Location": f"/v1/runs/{submission.run_id}"})
    return JSONResponse(
        start_body(record.run_id, record.workflow_id, record.created_at, record.state, record.end)
    )


async def _execute(
    request: Request,
    caller: CallerDep,
    settings: SettingsDep,
    verdicts: ValidationCacheDep,
    gateway: GatewayDep,
    *,
    legacy: bool = False,
) -> Response:
    """The run's answer once it ends; `legacy` adds the members the legacy route answers with."""
    extra = _LEGACY_MEMBERS if legacy else {}
    submission = await submit_run(request, caller, settings, verdicts, gateway)
    run_id = submission.run_id
    client = await gateway.client()
    end = await completed_run(client, submission, caller, settings.execute_wait_seconds)
    if end is None:
        # The protocol's asynchronous degrade: the run goes on; the client polls or waits (§5).
        record = await read_run(client, run_id, caller=caller)
        state = record.state if record is not None else RunState.STARTED
        body = start_body(run_id, submission.workflow_id, submission.created_at, state, None)
        return JSONResponse(
            {**body, **extra}, status_code=202, headers={"Location": f"/v1/runs/{run_id}", "Retry-After": "2"}
        )
    store = settings.blob_store
    # Stored contents stay markers here: the answer streams them from storage, a page at a time.
    # An end that names no stored document is read on the loop: no thread hop for what is in memory.
    in_memory = not (end.output_ref or end.tokens_usages_ref or end.batch_failures_ref)
    if in_memory:
        parts = _answer_parts(end, store)
    else:
        parts = await run_in_threadpool(_answer_parts, end, store)
    body = {**execute_body(run_id, submission.workflow_id, submission.created_at, end, *parts), **extra}
    if in_memory and not holds_marker(body):
        # Small (the run kept it inline) and nothing to read: the same bytes, written at once rather
        # than a thread hop per streamed piece.
        return Response(b"".join(stream_json(body, store)), media_type="application/json")
    return StreamingResponse(stream_json(body, store), media_type="application/json")


def _answer_parts(
    end: RunEnd, store: BlobStore
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]] | None]:
    """The working memory, usage records and failed items of the run's end (`/v1/execute`'s answer)."""
    return stored_memory_of(end, store), tokens_usages_of(end, store), batch_failures_of(end, store)


@router.post(
    "/v1/start", status_code=202, openapi_extra={"x-mthds-protocol": True, "requestBody": _REQUEST_BODY}
)
async def start(
    request: Request,
    caller: CallerDep,
    settings: SettingsDep,
    verdicts: ValidationCacheDep,
    gateway: GatewayDep,
) -> JSONResponse:
    """Start a run and answer at once: 202 with its id (200 for a repeat of the same request)."""
    return await _start(request, caller, settings, verdicts, gateway)


@router.post("/v1/execute", openapi_extra={"x-mthds-protocol": True, "requestBody": _REQUEST_BODY})
async def execute(
    request: Request,
    caller: CallerDep,
    settings: SettingsDep,
    verdicts: ValidationCacheDep,
    gateway: GatewayDep,
) -> Response:
    """Run and wait for the end: 200 with the result, the run's problem if it failed, 202 if it runs long."""
    return await _execute(request, caller, settings, verdicts, gateway)


@router.post("/api/v1/pipeline/start", openapi_extra={"requestBody": _REQUEST_BODY})
async def legacy_start(
    request: Request,
    caller: CallerDep,
    settings: SettingsDep,
    verdicts: ValidationCacheDep,
    gateway: GatewayDep,
) -> JSONResponse:
    """Legacy alias of `POST /v1/start`."""
    return _legacy(await _start(request, caller, settings, verdicts, gateway))


@router.post("/api/v1/pipeline/execute", openapi_extra={"requestBody": _REQUEST_BODY})
async def legacy_execute(
    request: Request,
    caller: CallerDep,
    settings: SettingsDep,
    verdicts: ValidationCacheDep,
    gateway: GatewayDep,
) -> Response:
    """Legacy alias of `POST /v1/execute`."""
    return await _execute(request, caller, settings, verdicts, gateway, legacy=True)


def _legacy(response: JSONResponse) -> JSONResponse:
    body: dict[str, Any] = json.loads(bytes(response.body))
    headers = {
        key: value for key, value in response.headers.items() if key.lower() in ("location", "retry-after")
    }
    return JSONResponse({**body, **_LEGACY_MEMBERS}, status_code=response.status_code, headers=headers)
