"""`POST /v1/runs/{id}/resume` (issue 19): a new run of the caller's failed, cancelled or timed-out run.

The route only orders the steps; what a resume is (its checks, its request, its marks) is
`api/run_resume.py`, and the start itself is `/v1/start`'s (`api.run_submission.submit_run_data`).
`start_resume` is the one resume path, shared with the bulk resume job (`api/bulk_resume.py`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.auth import Caller
from api.deps import CallerDep, GatewayDep, SettingsDep, ValidationCacheDep
from api.method_source import SOURCE_FIELDS
from api.openapi_bodies import request_body
from api.problems import ProblemError
from api.request_body import parse_request, read_json_object
from api.run_bodies import start_body
from api.run_records import RunRecord, method_files, owned_run, read_spec
from api.run_request import run_budget
from api.run_resume import (
    ResumeRequestBody,
    check_resumable,
    mark_resumed_by,
    resume_request,
)
from api.run_submission import Submission, submit_run_data
from api.settings import ApiSettings
from api.temporal_gateway import TemporalGateway
from api.validation_cache import ValidationCache
from shared.problems.catalogue import ProblemCode
from shared.runs.run_states import RunState

router = APIRouter(tags=["runs"])

RunId = Annotated[str, "the caller's run id"]


def _optional_body() -> dict[str, Any]:
    """The request body's document: optional, and with at most one method source (none: the original's)."""
    document = request_body(ResumeRequestBody)
    document["required"] = False
    document["content"]["application/json"]["schema"].pop("oneOf", None)
    return document


_REQUEST_BODY = _optional_body()


@router.post("/v1/runs/{run_id}/resume", status_code=202, openapi_extra={"requestBody": _REQUEST_BODY})
async def resume_run(
    request: Request,
    run_id: RunId,
    caller: CallerDep,
    settings: SettingsDep,
    verdicts: ValidationCacheDep,
    gateway: GatewayDep,
) -> JSONResponse:
    """Resume a run that failed, was cancelled or timed out, reusing its completed work: 202 with the new
    run's id (200 for a repeat of the same resume)."""
    body = parse_request(ResumeRequestBody, await _body_data(request))
    run_budget(body.budget)  # a bad budget is the request's fault, whatever the run
    client = await gateway.client()
    record = await owned_run(client, run_id, caller)
    submission = await start_resume(request, record, body, caller, settings, verdicts, gateway)
    existing = submission.record
    if submission.created or existing is None:
        answer = start_body(
            submission.run_id, submission.workflow_id, submission.created_at, RunState.STARTED, None
        )
        return JSONResponse(
            {**answer, "resumed_from": run_id},
            status_code=202,
            headers={"Location": f"/v1/runs/{submission.run_id}"},
        )
    answer = start_body(
        existing.run_id, existing.workflow_id, existing.created_at, existing.state, existing.end
    )
    return JSONResponse({**answer, "resumed_from": run_id})


async def start_resume(
    request: Request,
    record: RunRecord,
    body: ResumeRequestBody,
    caller: Caller,
    settings: ApiSettings,
    verdicts: ValidationCache,
    gateway: TemporalGateway,
) -> Submission:
    """Resume the caller's run `record` as `body` asks: the checks, the start, the `resumed_by` mark.

    The one resume path: this route and the bulk resume job (`api/bulk_resume.py`) both call it.
    """
    check_resumable(record)
    client = await gateway.client()
    original = await read_spec(client, record)
    if original is None:
        raise ProblemError(
            ProblemCode.RUN_NOT_RESUMABLE,
            f"The request of run '{record.run_id}' can no longer be read; start a new run instead.",
            params={"state": record.state.value},
            pipeline_run_id=record.run_id,
        )
    store = settings.blob_store
    corrected = any(getattr(body, name) is not None for name in SOURCE_FIELDS)
    files = None if corrected else await method_files(original, store)
    data, lineage = resume_request(original, body, files, settings)
    submission = await submit_run_data(request, data, caller, settings, verdicts, gateway, resume=lineage)
    # On a replay too: it repairs a mark whose write was lost with the first answer.
    await run_in_threadpool(
        mark_resumed_by, store, caller.storage_prefix, record.run_id, submission.run_id, submission.created_at
    )
    return submission


async def _body_data(request: Request) -> dict[str, Any]:
    """The body as a JSON object; an empty body is an empty object (every member is optional)."""
    if not (await request.body()).strip():
        return {}
    return await read_json_object(request)
