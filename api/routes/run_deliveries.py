"""`/v1/runs/{id}/deliveries` (http-api.md §10.6): every callback URL of a run, its state and attempts;
and the controls over one delivery, cancel and redeliver."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.delivery_controls import cancel_delivery, redeliver
from api.delivery_reads import deliveries_of
from api.deps import CallerDep, GatewayDep, SettingsDep
from api.run_records import owned_run

router = APIRouter(tags=["runs"])


@router.get("/v1/runs/{run_id}/deliveries")
async def run_deliveries(
    run_id: str, caller: CallerDep, gateway: GatewayDep, settings: SettingsDep
) -> JSONResponse:
    """Every callback URL of the run: its state and each attempt."""
    client = await gateway.client()
    record = await owned_run(client, run_id, caller)
    items = await deliveries_of(client, record, caller, settings.blob_store)
    return JSONResponse({"pipeline_run_id": run_id, "items": items})


@router.post("/v1/runs/{run_id}/deliveries/{delivery_id}/cancel", status_code=202)
async def cancel_run_delivery(
    run_id: str, delivery_id: str, caller: CallerDep, gateway: GatewayDep, settings: SettingsDep
) -> JSONResponse:
    """Stop retrying one callback URL; the state turns `cancelled` once the delivery workflow has."""
    client = await gateway.client()
    record = await owned_run(client, run_id, caller)
    item = await cancel_delivery(client, record, caller, settings.blob_store, delivery_id)
    return JSONResponse(item, status_code=202)


@router.post("/v1/runs/{run_id}/deliveries/{delivery_id}/redeliver", status_code=202)
async def redeliver_run_delivery(
    run_id: str, delivery_id: str, caller: CallerDep, gateway: GatewayDep, settings: SettingsDep
) -> JSONResponse:
    """Send the run's event to one callback URL again (same webhook-id, signed afresh)."""
    client = await gateway.client()
    record = await owned_run(client, run_id, caller)
    item = await redeliver(client, record, caller, settings.blob_store, delivery_id)
    return JSONResponse(item, status_code=202)
