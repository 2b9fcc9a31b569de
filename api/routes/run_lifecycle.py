"""The run lifecycle (http-api.md §9): list, record, status, progress, results, cancel.

Every read sees only the caller's runs: another identity's run answers 404 `run.not_found`, as an
unknown id does.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, StringConstraints
from starlette.concurrency import run_in_threadpool

from api.delivery_reads import deliveries_of
from api.deps import CallerDep, GatewayDep, SettingsDep, public_origin
from api.json_stream import stream_json
from api.problems import ProblemError, request_invalid
from api.request_body import parse_request, read_json_object
from api.run_bodies import (
    ARTIFACTS,
    batch_failures_of,
    results_body,
    reuse_members,
    stored_memory_of,
    tokens_usages_of,
    usage_summary,
)
from api.run_cancel import request_cancel
from api.run_listing import list_page
from api.run_progress import COUNTERS_ONLY, read_progress
from api.run_records import RunRecord, method_files, owned_run, read_spec
from api.run_results import completed_end, running_answer
from api.run_resume import lineage_members
from shared.problems.catalogue import ProblemCode
from shared.runs.invocations import invocations, summary, with_live_batch
from shared.runs.run_states import RunState
from shared.runs.timestamps import rfc3339
from shared.runs.workflow_io import ProgressCounters, ProgressView

router = APIRouter(tags=["runs"])

RunId = Annotated[str, "the caller's run id"]


def _live_state(record: RunRecord, view: ProgressView | None) -> RunState:
    """The state to report beside the query's progress: the query's when it is the newer reading.

    Describe runs before the query, so a run can move on in between; reporting the query's state
    keeps `status` and the progress of one answer consistent (never `pending` beside a running pipe).
    An end is reported only from the record, which carries its time and error.
    """
    if view is None or record.state.is_terminal or view.state.is_terminal:
        return record.state
    return view.state


@router.get("/v1/runs/{run_id}")
async def get_run(
    request: Request, run_id: RunId, caller: CallerDep, gateway: GatewayDep, settings: SettingsDep
) -> Response:
    """The whole run record. An input the API stored (over `CONTENT_INLINE_MAX_KIB`) reads back in its
    checked form (`{"concept", "content"}`), streamed from storage like the results."""
    origin = public_origin(request, settings)
    client = await gateway.client()
    record = await owned_run(client, run_id, caller)
    store = settings.blob_store
    spec = await read_spec(client, record)
    files = await method_files(spec, store) if spec is not None else None
    deliveries = [
        {"delivery_id": item["delivery_id"], "url": item["url"], "state": item["state"]}
        for item in await deliveries_of(client, record, caller, store)
    ]
    body = {
        "pipeline_run_id": run_id,
        "workflow_id": record.workflow_id,
        "status": record.state.value,
        "state": record.state.value,
        "pipe_code": record.pipe_code,
        "main_stuff_name": record.end.main_stuff_name if record.end is not None else None,
        "created_at": record.created_at,
        "finished_at": record.finished_at,
        "created_by_user_id": caller.created_by_user_id,
        "request_id": record.request_id,
        "result_url": f"{origin}/v1/runs/{run_id}/results",
        "error": record.error,
        "mthds_contents": [bundle.text for bundle in spec.bundles] if spec is not None else [],
        "inputs": spec.inputs if spec is not None else {},
        "callback_urls": record.callback_urls,
        # methodflow: each callback URL's delivery state (pending, delivering, delivered, gone,
        # refused, failed); the attempts are at /v1/runs/{id}/deliveries.
        "deliveries": deliveries,
        # methodflow: what the run's model calls cost (null while running, or with no priced call).
        "usage": usage_summary(record.end),
        **reuse_members(record.end),
        # methodflow: the run this one resumes, and the runs that resume it (issue 19).
        **await lineage_members(record, store, caller.storage_prefix),
        **({"files": files} if files is not None else {}),
        "method_id": None,
        "org_id": None,
        "method_version": None,
        "source_digest": None,
        "tree_digest": None,
        "crate_fingerprint": None,
    }
    return StreamingResponse(stream_json(body, store), media_type="application/json")


@router.get("/v1/runs/{run_id}/status")
async def run_status(
    run_id: RunId, caller: CallerDep, gateway: GatewayDep, settings: SettingsDep
) -> JSONResponse:
    """The run's state and progress counters."""
    client = await gateway.client()
    record = await owned_run(client, run_id, caller)
    reading = await read_progress(
        client, record, settings.blob_store, gateway.known_progress, after=COUNTERS_ONLY
    )
    view = reading.view
    counters = view.counters if view is not None else ProgressCounters()
    # A stale reading's state may be older than the record's: the record's then stands.
    state = _live_state(record, None if reading.stale else view)
    return JSONResponse(
        {
            "pipeline_run_id": run_id,
            "pipe_code": record.pipe_code,
            "status": state.value,
            "state": state.value,
            "created_at": record.created_at,
            "finished_at": record.finished_at,
            "error": record.error,
            "request_id": record.request_id,
            "workflow_id": record.workflow_id,
            "degraded": False,
            "degradation": None,
            "progress": {**counters.model_dump(), **reading.marks()},
            **await lineage_members(record, settings.blob_store, caller.storage_prefix),
        }
    )


@router.get("/v1/runs/{run_id}/progress")
async def progress_of_run(
    run_id: RunId, caller: CallerDep, gateway: GatewayDep, settings: SettingsDep
) -> JSONResponse:
    """Per-invocation progress, as pipelex-sdk reads it."""
    client = await gateway.client()
    record = await owned_run(client, run_id, caller)
    reading = await read_progress(client, record, settings.blob_store, gateway.known_progress)
    view = reading.view
    counters = view.counters if view is not None else ProgressCounters()
    items = with_live_batch(invocations(view.events), counters.batch) if view is not None else []
    state = _live_state(record, None if reading.stale else view)
    status = state.progress_status
    return JSONResponse(
        {
            "pipeline_run_id": run_id,
            # pipelex-sdk reads an open string (it knows `live` and `dry`): `live` while the run goes on,
            # `final` once it has ended and the snapshot can no longer change.
            "mode": "final" if state.is_terminal else "live",
            "status": status,
            "version": view.version if view is not None else 0,
            "assembled_at": rfc3339(datetime.now(UTC)),
            "summary": summary(status, items),
            "invocations": items,
            "counters": {**counters.model_dump(), **reading.marks()},
        }
    )


@router.get("/v1/runs/{run_id}/results")
async def run_results(
    run_id: RunId, caller: CallerDep, gateway: GatewayDep, settings: SettingsDep, artifacts: str | None = None
) -> Response:
    """202 while running, 200 with the results (streamed), 409 `run.failed` when it did not succeed."""
    wanted = _artifacts(artifacts)
    client = await gateway.client()
    record = await owned_run(client, run_id, caller)
    waiting = running_answer(record)
    if waiting is not None:
        return waiting
    end = completed_end(record)
    store = settings.blob_store
    # Stored contents stay markers here: the answer streams them from storage, a page at a time.
    memory = await run_in_threadpool(stored_memory_of, end, store)
    usages = await run_in_threadpool(tokens_usages_of, end, store)
    failures = await run_in_threadpool(batch_failures_of, end, store)
    body = results_body(run_id, end, memory, usages, wanted, failures)
    return StreamingResponse(stream_json(body, store), media_type="application/json")


def _artifacts(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    names = tuple(name.strip() for name in text.split(","))
    if not names or any(name not in ARTIFACTS for name in names):
        raise request_invalid(field="artifacts", reason=f"name artifacts among {', '.join(ARTIFACTS)}.")
    return names


@router.post("/v1/runs/{run_id}/cancel")
async def cancel_run(request: Request, run_id: RunId, caller: CallerDep, gateway: GatewayDep) -> JSONResponse:
    """Ask a running run to stop: 202 when it will end CANCELLED, 409 once its end is settled."""
    reason = await _cancel_reason(request)
    client = await gateway.client()
    record = await owned_run(client, run_id, caller)
    if not record.state.is_terminal:
        answer = await request_cancel(client, record, caller, reason)
        if answer is None or answer.accepted:
            body: dict[str, Any] = {
                "pipeline_run_id": run_id,
                "state": record.state.value,
                "status": record.state.value,
                "cancel_requested": True,
            }
            return JSONResponse(body, status_code=202)
        record = replace(record, state=answer.state)
    raise ProblemError(
        ProblemCode.RUN_ALREADY_ENDED,
        f"The run '{run_id}' has already ended {record.state.value}.",
        params={"run_status": record.state.value},
        pipeline_run_id=run_id,
    )


class CancelBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    reason: Annotated[str, StringConstraints(max_length=512)] | None = None


async def _cancel_reason(request: Request) -> str | None:
    if not (await request.body()).strip():
        return None
    return parse_request(CancelBody, await read_json_object(request)).reason


@router.get("/v1/runs")
async def list_runs(
    caller: CallerDep,
    gateway: GatewayDep,
    state: Annotated[list[str] | None, Query()] = None,
    status: Annotated[list[str] | None, Query()] = None,
    pipe_code: str | None = None,
    created_after: str | None = None,
    created_from: str | None = None,
    created_before: str | None = None,
    created_to: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: str | None = None,
) -> JSONResponse:
    """The caller's runs, newest first, a page at a time."""
    # An empty value (`?state=`, `?cursor=`) is a caller's mistake, never "no filter": refused, as
    # the OpenAPI document says (minLength 1, api/openapi_doc.py).
    texts = {"pipe_code": pipe_code, "created_after": created_after, "created_from": created_from}
    texts |= {"created_before": created_before, "created_to": created_to, "cursor": cursor}
    for field, text in texts.items():
        if text is not None and not text.strip():
            raise request_invalid(field=field, reason="give a value, or leave the parameter out.")
    for field, values in (("state", state or []), ("status", status or [])):
        # Comma-separated states: `RUNNING,` names an empty state as `?state=` does.
        if not all(part.strip() for value in values for part in value.split(",")):
            raise request_invalid(field=field, reason="name run states, comma-separated, with none empty.")
    client = await gateway.client()
    body = await list_page(
        client,
        caller,
        states=[*(state or []), *(status or [])],
        pipe_code=pipe_code,
        after=created_after or created_from,
        before=created_before or created_to,
        limit=limit,
        cursor=cursor,
    )
    return JSONResponse(body)
