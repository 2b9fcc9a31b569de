"""`GET /v1/runs/{id}/deliveries` (http-api.md §10.6): every callback URL of a run, its state and attempts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from api.auth import Caller
from api.delivery_views import delivery_item
from api.deps import CallerDep, GatewayDep, SettingsDep
from api.problems import ProblemError
from api.run_records import RunRecord, read_run
from shared.callbacks.signing import webhook_id
from shared.problems.catalogue import ProblemCode
from shared.runs.names import callbacks_workflow_id
from shared.runs.workflow_io import DeliveryOutcome
from shared.storage.blob_store import BlobStore, LocalBlobStore
from shared.storage.delivery_log import attempts_of

router = APIRouter(tags=["runs"])


@router.get("/v1/runs/{run_id}/deliveries")
async def run_deliveries(
    run_id: str, caller: CallerDep, gateway: GatewayDep, settings: SettingsDep
) -> JSONResponse:
    client = await gateway.client()
    record = await read_run(client, run_id, caller=caller)
    if record is None:
        raise ProblemError(
            ProblemCode.RUN_NOT_FOUND,
            f"No run '{run_id}' is visible to this caller.",
            params={"pipeline_run_id": run_id},
        )
    items = await deliveries_of(client, record, caller, LocalBlobStore(settings.storage_root))
    return JSONResponse({"pipeline_run_id": run_id, "items": items})


async def deliveries_of(
    client: Client, record: RunRecord, caller: Caller, store: BlobStore
) -> list[dict[str, Any]]:
    """One item per distinct callback URL of the run, in the order given."""
    urls = list(dict.fromkeys(record.callback_urls))
    if not urls:
        return []
    finals = await _final_states(client, record.run_id) if record.state.is_terminal else {}
    items: list[dict[str, Any]] = []
    for url in urls:
        delivery_id = webhook_id(record.run_id, url)
        attempts = await run_in_threadpool(
            attempts_of, store, caller.storage_prefix, record.run_id, delivery_id
        )
        items.append(
            delivery_item(
                url,
                delivery_id,
                attempts,
                run_finished_at=record.finished_at if record.state.is_terminal else None,
                final=finals.get(url),
            )
        )
    return items


async def _final_states(client: Client, run_id: str) -> dict[str, str]:
    """The delivery workflow's outcome per URL once it has closed; empty while it runs (or never ran)."""
    handle = client.get_workflow_handle(callbacks_workflow_id(run_id), result_type=list[DeliveryOutcome])
    try:
        description = await handle.describe()
        if description.status != WorkflowExecutionStatus.COMPLETED:
            return {}
        outcomes = await handle.result()
    except RPCError:
        return {}
    return {outcome.url: outcome.state for outcome in outcomes}
