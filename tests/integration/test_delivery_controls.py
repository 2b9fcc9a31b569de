"""Stopping and resending one callback delivery (`POST /v1/runs/{id}/deliveries/{delivery}/cancel` and
`/redeliver`), and the worker's one log line per attempt: real runs, the real delivery workflows, real
receivers on loopback ports answering from a script, intervals shortened through the worker's settings.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType

from api.auth import SINGLE_TENANT, AuthMode, Caller
from shared.callbacks.signing import verify_webhook, webhook_id
from shared.runs.names import callbacks_workflow_id, run_workflow_id
from tests.helpers.api_server import assert_problem
from tests.helpers.callback_receiver import CallbackReceiver, serving
from tests.helpers.run_stack import RunStack, run_stack
from tests.integration.test_callbacks import API, SECRET, WORKER, deliveries, eventually, start
from tests.integration.test_run_ownership import JWT_MODE, SLOW_BUNDLE, bearer
from worker.runner import build_replayer
from worker.temporal_connection import connect

# Longer than the longest backoff (WORKER's 0.5 s maximum interval) plus an attempt on loopback: had the
# cancel not stopped the retries, more attempts would arrive in it.
QUIET_SECONDS = 1.5


def controls(run_id: str, delivery_id: str, action: str) -> str:
    return f"/v1/runs/{run_id}/deliveries/{delivery_id}/{action}"


async def state_is(
    stack: RunStack, run_id: str, delivery_id: str, state: str, headers: dict[str, str] | None = None
) -> dict[str, Any] | None:
    answer = await stack.client.get(f"/v1/runs/{run_id}/deliveries", headers=headers)
    items = {item["delivery_id"]: item for item in answer.json()["items"]}
    return items[delivery_id] if items[delivery_id]["state"] == state else None


async def attempts_at_least(stack: RunStack, run_id: str, delivery_id: str, count: int) -> bool:
    return len((await deliveries(stack, run_id))[delivery_id]["attempts"]) >= count


def event_id(run_id: str, url: str, tenant_key: str = SINGLE_TENANT) -> str:
    """The webhook-id of a run's event to `url`: derived from the run's (tenant-scoped) workflow id."""
    return webhook_id(run_workflow_id(tenant_key, run_id), url)


async def test_cancel_stops_one_url_and_redeliver_sends_the_same_event_again(
    temporal_address: str, tmp_path: Path
) -> None:
    run_id = "run-dc-cancel"
    async with (
        serving(CallbackReceiver([500])) as refusing,
        serving(CallbackReceiver([500])) as other,
        run_stack(temporal_address, tmp_path, api_overrides=API, worker_overrides=WORKER) as stack,
    ):
        await start(stack, run_id, [refusing.url, other.url])
        delivery_id, other_id = event_id(run_id, refusing.url), event_id(run_id, other.url)
        await eventually(lambda: attempts_at_least(stack, run_id, delivery_id, 2), what="two attempts")

        # While it is retried: no redelivery, a cancel is taken.
        busy = await stack.client.post(controls(run_id, delivery_id, "redeliver"))
        assert_problem(busy, 409, "delivery.in_progress")
        answer = await stack.client.post(controls(run_id, delivery_id, "cancel"))
        assert answer.status_code == 202, answer.text
        assert answer.json()["delivery_id"] == delivery_id
        assert answer.json()["state"] in ("pending", "delivering")
        cancelled = await eventually(
            lambda: state_is(stack, run_id, delivery_id, "cancelled"), what="the cancelled state"
        )
        assert cancelled["next_attempt_at"] is None

        sent, others_sent = len(refusing.received), len(other.received)
        await asyncio.sleep(QUIET_SECONDS)
        assert len(refusing.received) == sent, "no attempt after the cancel"
        assert len(other.received) > others_sent, "the run's other URL goes on"
        items = await deliveries(stack, run_id)
        assert len(items[delivery_id]["attempts"]) == sent, "every attempt sent is logged"
        assert items[delivery_id]["state"] == "cancelled"
        assert items[other_id]["state"] == "delivering"
        record = (await stack.client.get(f"/v1/runs/{run_id}")).json()
        assert record["state"] == "COMPLETED", "a delivery never changes the run's state"
        assert {item["delivery_id"]: item["state"] for item in record["deliveries"]} == {
            delivery_id: "cancelled",
            other_id: "delivering",
        }
        again = await stack.client.post(controls(run_id, delivery_id, "cancel"))
        problem = assert_problem(again, 409, "delivery.ended")
        assert problem["params"]["state"] == "cancelled"

        # The receiver is fixed: a redelivery sends the same event, signed afresh, numbered on.
        refusing.script = [*([500] * sent), 200]
        answer = await stack.client.post(controls(run_id, delivery_id, "redeliver"))
        assert answer.status_code == 202, answer.text
        assert answer.json()["state"] in ("pending", "delivering", "delivered")
        delivered = await eventually(
            lambda: state_is(stack, run_id, delivery_id, "delivered"), what="the redelivery"
        )
        assert [attempt["attempt"] for attempt in delivered["attempts"]] == list(range(1, sent + 2))
        assert delivered["attempts"][-1]["outcome"] == "delivered"
        assert delivered["delivered_at"] == delivered["attempts"][-1]["started_at"]
        assert [request.answered for request in refusing.received] == [*([500] * sent), 200]
        first, last = refusing.received[0], refusing.received[-1]
        assert last.headers["webhook-id"] == first.headers["webhook-id"] == delivery_id
        assert last.body == first.body
        assert last.headers["webhook-timestamp"] >= first.headers["webhook-timestamp"]
        verify_webhook(SECRET, last.headers, last.body, now=int(last.at))
        assert_problem(
            await stack.client.post(controls(run_id, delivery_id, "cancel")), 409, "delivery.ended"
        )
        assert (await stack.client.get(f"/v1/runs/{run_id}")).json()["state"] == "COMPLETED"

        # Unknown delivery ids, on either route.
        for action in ("cancel", "redeliver"):
            missing = assert_problem(
                await stack.client.post(controls(run_id, "wh_nothing", action)), 404, "delivery.not_found"
            )
            assert missing["params"] == {"pipeline_run_id": run_id, "delivery_id": "wh_nothing"}
            unknown_run = await stack.client.post(controls("run-dc-none", delivery_id, action))
            assert_problem(unknown_run, 404, "run.not_found")

        await stack.client.post(controls(run_id, other_id, "cancel"))
        await eventually(lambda: state_is(stack, run_id, other_id, "cancelled"), what="the other cancel")

        # The delivery workflow with its signal and memo replays deterministically.
        temporal = await connect(temporal_address)
        handle = temporal.get_workflow_handle(callbacks_workflow_id(record["workflow_id"]))
        history = await handle.fetch_history()
        signals = [
            event
            for event in history.events
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        ]
        assert len(signals) == 2
        assert (await build_replayer().replay_workflow(history)).replay_failure is None


async def test_a_cancel_during_an_attempt_lets_it_end_then_stops(
    temporal_address: str, tmp_path: Path
) -> None:
    run_id = "run-dc-inflight"
    async with (
        serving(CallbackReceiver(["hang"])) as hanging,  # every attempt times out after 1 s
        run_stack(temporal_address, tmp_path, api_overrides=API, worker_overrides=WORKER) as stack,
    ):
        await start(stack, run_id, [hanging.url])
        delivery_id = event_id(run_id, hanging.url)
        await eventually(lambda: asyncio.sleep(0, hanging.received), what="the first attempt sent")
        answer = await stack.client.post(controls(run_id, delivery_id, "cancel"))
        assert answer.status_code == 202, answer.text
        item = await eventually(lambda: state_is(stack, run_id, delivery_id, "cancelled"), what="the cancel")
        sent = len(hanging.received)
        await asyncio.sleep(QUIET_SECONDS)
        assert len(hanging.received) == sent, "no attempt after the cancel"
        assert len(item["attempts"]) == sent, "the attempt in flight was logged before the state turned"
        assert {attempt["error"] for attempt in item["attempts"]} == {"timeout"}


async def test_concurrent_redelivers_send_one_event(temporal_address: str, tmp_path: Path) -> None:
    run_id = "run-dc-twice"
    # Delivered at once; the redelivery's first attempt hangs until it times out (1 s), its second delivers.
    async with (
        serving(CallbackReceiver([200, "hang", 200])) as receiver,
        run_stack(temporal_address, tmp_path, api_overrides=API, worker_overrides=WORKER) as stack,
    ):
        await start(stack, run_id, [receiver.url])
        delivery_id = event_id(run_id, receiver.url)
        await eventually(lambda: state_is(stack, run_id, delivery_id, "delivered"), what="the delivery")
        answers = await asyncio.gather(
            *(stack.client.post(controls(run_id, delivery_id, "redeliver")) for _ in range(3))
        )
        codes = sorted(answer.status_code for answer in answers)
        assert codes[0] == 202, [answer.text for answer in answers]
        for answer in answers:
            if answer.status_code != 202:
                assert_problem(answer, 409, "delivery.in_progress")
        item = await eventually(
            lambda: _delivered_twice(stack, run_id, delivery_id), what="one redelivery delivered"
        )
        assert [attempt["attempt"] for attempt in item["attempts"]] == [1, 2, 3]
        assert [attempt["error"] for attempt in item["attempts"]] == [None, "timeout", None]
        await asyncio.sleep(QUIET_SECONDS)
        assert [request.answered for request in receiver.received] == [200, 200, 200], "one redelivery"


async def _delivered_twice(stack: RunStack, run_id: str, delivery_id: str) -> dict[str, Any] | None:
    item = await state_is(stack, run_id, delivery_id, "delivered")
    delivered = [attempt for attempt in item["attempts"] if attempt["outcome"] == "delivered"] if item else []
    return item if len(delivered) == 2 else None


async def test_controls_see_only_the_callers_runs_and_wait_for_the_run_to_end(
    temporal_address: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLOW_SECONDS", "3")  # the run is still going when its owner asks
    run_id = "run-dc-owned"
    owner, stranger = bearer("dc-owner@example.com"), bearer("dc-stranger@example.com")
    async with (
        serving(CallbackReceiver([500])) as receiver,
        run_stack(
            temporal_address, tmp_path, api_overrides={**API, **JWT_MODE}, worker_overrides=WORKER
        ) as stack,
    ):
        body = {
            "mthds_contents": [SLOW_BUNDLE],
            "inputs": {"name": "Ada"},
            "pipeline_run_id": run_id,
            "callback_urls": [receiver.url],
        }
        started = await stack.client.post("/v1/start", json=body, headers=owner)
        assert started.status_code == 202, started.text
        delivery_id = event_id(run_id, receiver.url, Caller("dc-owner@example.com", AuthMode.JWT).tenant_key)
        for action in ("cancel", "redeliver"):
            early = await stack.client.post(controls(run_id, delivery_id, action), headers=owner)
            assert_problem(early, 409, "delivery.not_started")
            foreign = await stack.client.post(controls(run_id, delivery_id, action), headers=stranger)
            assert_problem(foreign, 404, "run.not_found")
            assert_problem(
                await stack.client.post(controls(run_id, delivery_id, action)), 401, "auth.missing_credential"
            )

        await stack.wait_for_end(run_id, headers=owner)
        await eventually(
            lambda: state_is(stack, run_id, delivery_id, "delivering", headers=owner), what="a retry"
        )
        for action in ("cancel", "redeliver"):
            foreign = await stack.client.post(controls(run_id, delivery_id, action), headers=stranger)
            assert_problem(foreign, 404, "run.not_found")
        answer = await stack.client.post(controls(run_id, delivery_id, "cancel"), headers=owner)
        assert answer.status_code == 202, answer.text
        await eventually(
            lambda: state_is(stack, run_id, delivery_id, "cancelled", headers=owner), what="the cancel"
        )


async def test_each_failed_attempt_logs_one_line_without_a_traceback(
    temporal_address: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # the worker's default LOG_LEVEL
    run_id = "run-dc-logged"
    async with (
        serving(CallbackReceiver([500, 503, 200])) as receiver,
        run_stack(temporal_address, tmp_path, api_overrides=API, worker_overrides=WORKER) as stack,
    ):
        await start(stack, run_id, [receiver.url])
        delivery_id = event_id(run_id, receiver.url)
        await eventually(lambda: state_is(stack, run_id, delivery_id, "delivered"), what="the delivery")
    ours = [record for record in caplog.records if record.name == "worker.activities.callbacks"]
    failed = [record for record in ours if record.levelno == logging.WARNING]
    assert len(failed) == 2, [record.getMessage() for record in ours]
    for attempt, (record, status) in enumerate(zip(failed, (500, 503), strict=True), start=1):
        line = record.getMessage()
        assert "\n" not in line
        assert record.exc_info is None
        for part in (f"run={run_id}", f"delivery={delivery_id}", "host=127.0.0.1", f"attempt={attempt}"):
            assert part in line, line
        assert f"status {status}" in line
        assert "next attempt at " in line
    assert [record.levelno for record in ours] == [logging.WARNING, logging.WARNING, logging.INFO]
    assert "outcome=delivered" in ours[-1].getMessage()
    assert "Traceback" not in caplog.text
    assert not [record for record in caplog.records if record.exc_info is not None]
