"""`GET /v1/runs/{id}/results/items`: a run's list output read a page at a time (methodflow extension)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.deps import CallerDep, GatewayDep, SettingsDep
from api.result_items import MAX_PAGE_ITEMS, items_page
from api.run_bodies import stored_memory_of
from api.run_records import owned_run
from api.run_results import completed_end, running_answer

router = APIRouter(tags=["runs"])


@router.get("/v1/runs/{run_id}/results/items")
async def run_result_items(
    run_id: str,
    caller: CallerDep,
    gateway: GatewayDep,
    settings: SettingsDep,
    offset: Annotated[int, Query(ge=0, description="Index of the first item (0-based).")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_ITEMS, description="Items at most.")] = 100,
    name: Annotated[
        str | None, Query(min_length=1, max_length=256, description="A list output other than the main one.")
    ] = None,
) -> JSONResponse:
    """A page of the run's list output: 202 while running, 409 `run.failed` when it did not succeed."""
    client = await gateway.client()
    record = await owned_run(client, run_id, caller)
    waiting = running_answer(record)
    if waiting is not None:
        return waiting
    end = completed_end(record)
    store = settings.blob_store
    memory = await run_in_threadpool(stored_memory_of, end, store)
    page = await run_in_threadpool(
        lambda: items_page(memory, end.main_stuff_name, store, name=name, offset=offset, limit=limit)
    )
    return JSONResponse({"pipeline_run_id": run_id, **page})
