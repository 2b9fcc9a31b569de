"""Asking a run to stop (http-api.md §9.7), with the workflow's own answer.

The cancel goes as a workflow update, so the workflow itself says whether the run will still end
CANCELLED or has already settled its end (it may be storing its results: then the cancel is refused,
never silently dropped). When no worker answers within `UPDATE_TIMEOUT` (none is polling, or a worker
is too old to know the update), the cancel goes as a signal instead and is accepted: the workflow
honours it when it next runs unless its end was already settled by then.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from api.auth import Caller
from api.run_records import RunRecord, read_run
from api.temporal_gateway import temporal_unavailable
from shared.runs.names import CANCEL_SIGNAL, CANCEL_UPDATE
from shared.runs.workflow_io import CancelAnswer

UPDATE_TIMEOUT = timedelta(seconds=5)


async def request_cancel(
    client: Client, record: RunRecord, caller: Caller, reason: str | None
) -> CancelAnswer | None:
    """The workflow's answer; None when only a signal could be sent (the cancel is then pending)."""
    handle = client.get_workflow_handle(record.workflow_id)
    try:
        # The SDK's overloads type the multi-argument form partly Unknown; this call uses the typed one.
        answer: CancelAnswer = await handle.execute_update(  # pyright: ignore[reportUnknownMemberType]
            CANCEL_UPDATE, reason, result_type=CancelAnswer, rpc_timeout=UPDATE_TIMEOUT
        )
    except (WorkflowUpdateRPCTimeoutOrCancelledError, WorkflowUpdateFailedError):
        pass  # no worker answered, or one that predates the update: fall back to the signal
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise temporal_unavailable() from exc
        return await _closed(client, record, caller)
    else:
        return answer
    try:
        await handle.signal(CANCEL_SIGNAL, reason)
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise temporal_unavailable() from exc
        return await _closed(client, record, caller)
    return None


async def _closed(client: Client, record: RunRecord, caller: Caller) -> CancelAnswer:
    """The workflow closed between the read and the cancel: refused, with the state it ended in."""
    latest = await read_run(client, record.run_id, caller=caller)
    return CancelAnswer(accepted=False, state=(latest or record).state)
