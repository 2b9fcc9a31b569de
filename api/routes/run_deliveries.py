"""`GET /v1/runs/{id}/deliveries` (http-api.md §10.6): every callback URL of a run, its state and attempts."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.delivery_reads import deliveries_of
from api.deps import CallerDep, GatewayDep, SettingsDep
from api.run_records import owned_run

router = APIRouter(tags=["runs"])


@router.get("/v1/runs/{run_id}/deliveries")
async def run_deliveries(
    run_id: str, caller: CallerDep, gateway: GatewayDep, settings: SettingsDep
) -> JSONResponse:
    client = await gateway.client()
    record = await owned_run(client, run_id, caller)
    items = await deliveries_of(client, record, caller, settings.blob_store)
    return JSONResponse({"pipeline_run_id": run_id, "items": items})
