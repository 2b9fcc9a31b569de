"""Stopping and resending one callback URL's delivery (`POST /v1/runs/{id}/deliveries/{delivery}/cancel`
and `/redeliver`): checked against the delivery's state as read now, then a signal to the workflow
trying it, or a new delivery workflow for that URL alone. The run itself is never touched.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.auth import Caller
from api.delivery_reads import Delivery, read_deliveries
from api.problems import ProblemError
from api.run_records import RunRecord
from api.temporal_gateway import temporal_unavailable
from shared.callbacks.delivery_controls import CANCEL_DELIVERY_SIGNAL, ENDED_STATES, redelivery_workflow_id
from shared.problems.catalogue import ProblemCode
from shared.runs.names import CALLBACKS_WORKFLOW, callbacks_workflow_id
from shared.runs.timestamps import rfc3339
from shared.runs.workflow_io import CallbackDelivery
from shared.storage.blob_store import BlobStore
from shared.storage.delivery_log import Redelivery, put_redelivery


async def cancel_delivery(
    client: Client, record: RunRecord, caller: Caller, store: BlobStore, delivery_id: str
) -> dict[str, Any]:
    """Ask the workflow trying the URL to stop; the state turns `cancelled` once it has (an attempt in
    flight finishes first, and may still deliver)."""
    delivery = await _delivery(client, record, caller, store, delivery_id)
    if delivery.state in ENDED_STATES:
        raise _ended(record, delivery)
    workflow_id = delivery.trying_workflow_id
    if workflow_id is None:
        raise _not_started(record, delivery)
    try:
        await client.get_workflow_handle(workflow_id).signal(CANCEL_DELIVERY_SIGNAL, delivery_id)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:  # it closed since the read: the URL has ended
            raise _ended(record, await _delivery(client, record, caller, store, delivery_id)) from exc
        raise temporal_unavailable() from exc
    return delivery.item


async def redeliver(
    client: Client, record: RunRecord, caller: Caller, store: BlobStore, delivery_id: str
) -> dict[str, Any]:
    """Send the same event (same body and webhook-id, signed afresh) to the URL again, with the usual
    retries; its attempts go on numbering after those already logged."""
    delivery = await _delivery(client, record, caller, store, delivery_id)
    if delivery.state not in ENDED_STATES:
        if delivery.trying_workflow_id is not None:
            raise _in_progress(record, delivery)
        raise _not_started(record, delivery)
    callbacks_id = callbacks_workflow_id(record.workflow_id)
    event = await _event_of(client, callbacks_id)
    if event is None or delivery.round is None:
        raise _not_started(record, delivery)
    workflow_id = redelivery_workflow_id(callbacks_id, delivery_id)
    first_attempt = max((int(attempt["attempt"]) for attempt in delivery.log.attempts), default=0) + 1
    # Written before the start, so a reader never meets a redelivery it cannot find; a start that
    # then fails leaves the run's own workflow in charge (delivery_reads).
    marker = Redelivery(workflow_id, first_attempt, rfc3339(datetime.now(UTC)))
    await run_in_threadpool(put_redelivery, store, caller.storage_prefix, record.run_id, delivery_id, marker)
    try:
        await client.start_workflow(
            CALLBACKS_WORKFLOW,
            event.model_copy(update={"urls": [delivery.url], "first_attempt": first_attempt}),
            id=workflow_id,
            task_queue=delivery.round.task_queue,
        )
    except WorkflowAlreadyStartedError:
        pass  # a concurrent redeliver of the same delivery started it: one workflow serves both
    except RPCError as exc:
        raise temporal_unavailable() from exc
    return (await _delivery(client, record, caller, store, delivery_id)).item


async def _delivery(
    client: Client, record: RunRecord, caller: Caller, store: BlobStore, delivery_id: str
) -> Delivery:
    for delivery in await read_deliveries(client, record, caller, store):
        if delivery.delivery_id == delivery_id:
            return delivery
    raise ProblemError(
        ProblemCode.DELIVERY_NOT_FOUND,
        f"The run '{record.run_id}' has no delivery '{delivery_id}'.",
        params={"pipeline_run_id": record.run_id, "delivery_id": delivery_id},
        pipeline_run_id=record.run_id,
    )


async def _event_of(client: Client, callbacks_id: str) -> CallbackDelivery | None:
    """The run's delivery input (the event body, its storage prefix and retry policy), as first sent."""
    try:
        async for event in client.get_workflow_handle(callbacks_id).fetch_history_events():
            if event.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                return None
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            [delivery] = await client.data_converter.decode(list(payloads), [CallbackDelivery])
            return delivery if isinstance(delivery, CallbackDelivery) else None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise temporal_unavailable() from exc
    return None


def _problem(code: ProblemCode, detail: str, record: RunRecord, delivery: Delivery) -> ProblemError:
    return ProblemError(
        code,
        detail,
        params={
            "pipeline_run_id": record.run_id,
            "delivery_id": delivery.delivery_id,
            "state": delivery.state,
        },
        pipeline_run_id=record.run_id,
    )


def _ended(record: RunRecord, delivery: Delivery) -> ProblemError:
    detail = f"The delivery '{delivery.delivery_id}' has already ended ({delivery.state})."
    return _problem(ProblemCode.DELIVERY_ENDED, detail, record, delivery)


def _in_progress(record: RunRecord, delivery: Delivery) -> ProblemError:
    detail = f"The delivery '{delivery.delivery_id}' is still being attempted ({delivery.state})."
    return _problem(ProblemCode.DELIVERY_IN_PROGRESS, detail, record, delivery)


def _not_started(record: RunRecord, delivery: Delivery) -> ProblemError:
    detail = f"The delivery '{delivery.delivery_id}' has not started: the run has not sent its event."
    return _problem(ProblemCode.DELIVERY_NOT_STARTED, detail, record, delivery)
