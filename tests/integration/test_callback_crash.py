"""A worker killed with SIGKILL during a callback's retry backoff: the next attempt runs on a new worker,
and the receiver gets the event delivered once, with the same id and a valid signature (http-api.md §10).

The worker is a real process (`python -m worker`); Temporal's own records (the pending activity before
the kill, the started event after) name which worker ran each attempt, by its process id.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.client import WorkflowHandle

from api.auth import SINGLE_TENANT
from shared.callbacks.signing import verify_webhook, webhook_id
from shared.runs.names import callbacks_workflow_id, run_workflow_id
from shared.runs.workflow_io import DeliveryOutcome
from tests.helpers.callback_receiver import CallbackReceiver, serving
from tests.helpers.run_stack import RunStack, run_stack
from tests.helpers.worker_process import worker_environment, worker_processes
from tests.integration.test_callbacks import API, SECRET, deliveries, eventually, start
from worker.temporal_connection import connect

RUN_ID = "run-cb-crash"
# Long enough that the kill, a few polls after the first attempt is reported, lands inside the backoff.
BACKOFF_SECONDS = 4
Callbacks = WorkflowHandle[object, list[DeliveryOutcome]]


async def in_backoff(callbacks: Callbacks) -> PendingActivityInfo | None:
    """The delivery activity once Temporal has recorded attempt 1's failure and waits to schedule attempt 2."""
    pending = (await callbacks.describe()).raw_description.pending_activities
    waiting = [
        activity
        for activity in pending
        if activity.state == PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED and activity.attempt == 2
    ]
    return waiting[0] if waiting else None


async def started_attempts(callbacks: Callbacks) -> list[tuple[int, str]]:
    """(attempt, worker identity) of each recorded start of the delivery activity (the last attempt only)."""
    history = await callbacks.fetch_history()
    return [
        (
            event.activity_task_started_event_attributes.attempt,
            event.activity_task_started_event_attributes.identity,
        )
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]


async def _delivered(stack: RunStack, delivery_id: str) -> dict[str, Any] | None:
    item = (await deliveries(stack, RUN_ID))[delivery_id]
    return item if item["state"] == "delivered" else None


async def test_a_worker_killed_in_the_backoff_delivers_once_after_restart(
    temporal_address: str, tmp_path: Path
) -> None:
    async with (
        serving(CallbackReceiver([500, 200])) as receiver,
        run_stack(temporal_address, tmp_path, worker=False, api_overrides=API) as stack,
    ):
        delivery_id = webhook_id(run_workflow_id(SINGLE_TENANT, RUN_ID), receiver.url)
        temporal = await connect(temporal_address)
        callbacks: Callbacks = temporal.get_workflow_handle(
            callbacks_workflow_id(run_workflow_id(SINGLE_TENANT, RUN_ID)), result_type=list[DeliveryOutcome]
        )
        env = worker_environment(
            temporal_address,
            stack.task_queue,
            tmp_path,
            COMPLETION_CALLBACK_SECRET=SECRET,
            ALLOW_PRIVATE_CALLBACK_URLS="true",
            CALLBACK_INITIAL_INTERVAL_SECONDS=str(BACKOFF_SECONDS),
            CALLBACK_ATTEMPT_TIMEOUT_SECONDS="1",
            # The delivery workflow cached by the dead worker moves to the new one after 1 s.
            WORKER_STICKY_TIMEOUT_SECONDS="1",
        )
        with worker_processes(env, tmp_path) as workers:
            first = workers.start()
            await first.wait_polling()
            await start(stack, RUN_ID, [receiver.url])
            assert (await stack.wait_for_end(RUN_ID, within=60))["state"] == "COMPLETED"

            async def first_attempt_logged() -> bool:
                attempts = (await deliveries(stack, RUN_ID))[delivery_id]["attempts"]
                return len(attempts) == 1 and len(receiver.received) == 1

            await eventually(first_attempt_logged, within=60, what="the first attempt logged")
            [logged] = (await deliveries(stack, RUN_ID))[delivery_id]["attempts"]
            assert (logged["attempt"], logged["outcome"], logged["status_code"]) == (1, "retry", 500)
            waiting = await eventually(
                lambda: in_backoff(callbacks), within=60, what="Temporal to record the failed attempt"
            )
            assert waiting.last_worker_identity.startswith(f"{first.process.pid}@"), waiting
            first.kill()
            killed_at = time.time()
            assert first.process.returncode == -signal.SIGKILL
            assert len(receiver.received) == 1, "the dead worker never sent attempt 2"

            second = workers.start()
            await second.wait_polling()
            item = await eventually(
                lambda: _delivered(stack, delivery_id), within=60, what="delivery by the new worker"
            )
            async with asyncio.timeout(60):
                outcomes = await callbacks.result()  # closed: no attempt can follow

        assert outcomes == [DeliveryOutcome(url=receiver.url, state="delivered")]
        assert [attempt["attempt"] for attempt in item["attempts"]] == [1, 2]
        assert [attempt["outcome"] for attempt in item["attempts"]] == ["retry", "delivered"]
        assert [attempt["status_code"] for attempt in item["attempts"]] == [500, 200]
        # Attempt 2 (not a later one: the dead worker never started it) ran on the new worker.
        started = await started_attempts(callbacks)
        assert [attempt for attempt, _ in started] == [2], started
        assert started[0][1].startswith(f"{second.process.pid}@"), started
        assert [request.answered for request in receiver.received] == [500, 200], "delivered once"
        # Weaker than the identity above (a request sent just before the kill would be read after it):
        # a sanity check that the receiver saw attempt 2 only once the first worker was gone.
        assert receiver.received[1].at > killed_at
        for request in receiver.received:
            assert request.headers["webhook-id"] == delivery_id
            event = verify_webhook(SECRET, request.headers, request.body, now=int(request.at))
            assert event["state"] == "COMPLETED"
        assert receiver.received[0].body == receiver.received[1].body
        record = (await stack.client.get(f"/v1/runs/{RUN_ID}")).json()
        assert record["state"] == "COMPLETED", "a delivery never changes the run's state"
