"""Reading a run's deliveries (http-api.md §10.6): the attempts from storage, the delivery workflow's
final outcomes from Temporal once it has closed.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from api.auth import Caller
from api.delivery_views import delivery_item
from api.run_records import RunRecord
from shared.callbacks.signing import webhook_id
from shared.runs.names import callbacks_workflow_id
from shared.runs.workflow_io import DeliveryOutcome
from shared.storage.blob_store import BlobStore
from shared.storage.delivery_log import attempts_of


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
