"""Reading a run's deliveries (http-api.md §10.6): the attempts from storage, each URL's end from the
delivery workflow in charge of it: the run's `<run workflow id>:callbacks`, or the URL's latest
redelivery once there is one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from starlette.concurrency import run_in_threadpool
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from api.auth import Caller
from api.delivery_views import delivery_item
from api.run_records import RunRecord
from api.temporal_gateway import temporal_unavailable
from shared.callbacks.delivery_controls import ENDED_MEMO, ENDED_STATES
from shared.callbacks.signing import webhook_id
from shared.runs.names import callbacks_workflow_id
from shared.runs.workflow_io import DeliveryOutcome
from shared.storage.blob_store import BlobStore
from shared.storage.delivery_log import DeliveryLog, delivery_log


@dataclass(frozen=True, slots=True)
class DeliveryRound:
    """One delivery workflow as read now: where it runs, and the URLs it has finished with."""

    workflow_id: str
    task_queue: str
    running: bool
    ended: dict[str, str]  # delivery id -> state

    def final(self, delivery_id: str) -> str | None:
        if delivery_id in self.ended:
            return self.ended[delivery_id]
        # Closed without an outcome for it (terminated, timed out): nobody tries it any more.
        return None if self.running else "failed"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One callback URL of a run: its view, its log and the workflow in charge of it (None before the
    run ended, or for a run whose end sends no event)."""

    url: str
    delivery_id: str
    item: dict[str, Any]
    log: DeliveryLog
    round: DeliveryRound | None

    @property
    def state(self) -> str:
        return str(self.item["state"])

    @property
    def trying_workflow_id(self) -> str | None:
        """The workflow still trying this URL, if any."""
        if self.round is None or not self.round.running or self.state in ENDED_STATES:
            return None
        return self.round.workflow_id


async def deliveries_of(
    client: Client, record: RunRecord, caller: Caller, store: BlobStore
) -> list[dict[str, Any]]:
    """One item per distinct callback URL of the run, in the order given."""
    return [delivery.item for delivery in await read_deliveries(client, record, caller, store)]


async def read_deliveries(
    client: Client, record: RunRecord, caller: Caller, store: BlobStore
) -> list[Delivery]:
    urls = list(dict.fromkeys(record.callback_urls))
    if not urls:
        return []
    ended = record.state.is_terminal
    callbacks_id = callbacks_workflow_id(record.workflow_id)
    original = await read_round(client, callbacks_id, record.workflow_id) if ended else None
    return [await _delivery(client, record, caller, store, url, original) for url in urls]


async def _delivery(
    client: Client,
    record: RunRecord,
    caller: Caller,
    store: BlobStore,
    url: str,
    original: DeliveryRound | None,
) -> Delivery:
    # From the run's workflow id, as the worker derives it: the bare run id for runs started before
    # run ids were scoped by tenant, so their ids are unchanged.
    delivery_id = webhook_id(record.workflow_id, url)
    log = await run_in_threadpool(delivery_log, store, caller.storage_prefix, record.run_id, delivery_id)
    current, first_attempt = original, 1
    if original is not None and log.redelivery is not None:
        redelivery = await read_round(client, log.redelivery.workflow_id, record.workflow_id)
        if redelivery is not None:  # else its start failed: the run's workflow is still in charge
            current, first_attempt = redelivery, log.redelivery.first_attempt
    item = delivery_item(
        url,
        delivery_id,
        log.attempts,
        run_finished_at=record.finished_at if record.state.is_terminal else None,
        final=current.final(delivery_id) if current is not None else None,
        first_attempt=first_attempt,
    )
    return Delivery(url, delivery_id, item, log, current)


async def read_round(client: Client, workflow_id: str, webhook_key: str) -> DeliveryRound | None:
    """The delivery workflow `workflow_id` (its latest run), or None when there is none."""
    handle = client.get_workflow_handle(workflow_id, result_type=list[DeliveryOutcome])
    try:
        description = await handle.describe()
        memo: Mapping[str, Any] = await description.memo()
        ended = _states(memo.get(ENDED_MEMO))
        status = description.status
        if status == WorkflowExecutionStatus.COMPLETED and ENDED_MEMO not in memo:
            # A workflow started before the memo existed: its result names every URL's end.
            ended = {webhook_id(webhook_key, outcome.url): outcome.state for outcome in await handle.result()}
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise temporal_unavailable() from exc
    return DeliveryRound(
        workflow_id=workflow_id,
        task_queue=description.task_queue,
        running=status == WorkflowExecutionStatus.RUNNING,
        ended=ended,
    )


def _states(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(key): str(state) for key, state in cast(dict[object, object], value).items()}
