"""Completion callbacks end to end (http-api.md §10): real runs, the real delivery workflow, receivers
on loopback ports answering from a script. Intervals are shortened through the worker's settings.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from api.auth import SINGLE_TENANT
from shared.callbacks.signing import legacy_signature, verify_webhook, webhook_id
from shared.runs.names import run_workflow_id
from tests.helpers.callback_receiver import CallbackReceiver, serving
from tests.helpers.run_stack import RunStack, run_stack
from tests.integration.test_runs import FUNCS, greet_body
from worker.dev_server import free_port

SECRET = "cbsecret"  # noqa: S105 -- the spec's example secret, for test receivers only
API = {"completion_callback_secret": SECRET, "allow_private_callback_urls": True}
WORKER = {
    "completion_callback_secret": SECRET,
    "allow_private_callback_urls": True,
    "callback_initial_interval_seconds": 0.2,
    "callback_max_interval_seconds": 0.5,
    "callback_attempt_timeout_seconds": 1,
}


async def eventually(check: Any, *, within: float = 30, what: str = "the condition") -> Any:
    """Poll the async `check` until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            msg = f"{what} did not happen within {within} s (last: {value!r})"
            raise AssertionError(msg)
        await asyncio.sleep(0.1)


async def deliveries(stack: RunStack, run_id: str) -> dict[str, dict[str, Any]]:
    answer = await stack.client.get(f"/v1/runs/{run_id}/deliveries")
    assert answer.status_code == 200, answer.text
    return {item["delivery_id"]: item for item in answer.json()["items"]}


async def start(stack: RunStack, run_id: str, urls: list[str], **extra: object) -> None:
    body = {**greet_body(pipeline_run_id=run_id, callback_urls=urls), **extra}
    answer = await stack.client.post("/v1/start", json=body)
    assert answer.status_code == 202, answer.text


async def test_a_receiver_failing_twice_gets_one_event_signed_afresh_each_time(
    temporal_address: str, tmp_path: Path
) -> None:
    async with (
        serving(CallbackReceiver([500, 500, 200])) as receiver,
        run_stack(temporal_address, tmp_path, api_overrides=API, worker_overrides=WORKER) as stack,
    ):
        await start(stack, "run-cb-flaky", [receiver.url])
        await eventually(lambda: asyncio.sleep(0, receiver.answered(200)), what="delivery")
        assert [item.answered for item in receiver.received] == [500, 500, 200]
        delivery_id = webhook_id(run_workflow_id(SINGLE_TENANT, "run-cb-flaky"), receiver.url)
        bodies = {item.body for item in receiver.received}
        assert len(bodies) == 1, "the body bytes are fixed once"
        stamps: list[int] = []
        for item in receiver.received:
            assert item.headers["webhook-id"] == delivery_id
            stamp = int(item.headers["webhook-timestamp"])
            assert abs(stamp - item.at) <= 5, "signed at the attempt, not at the run's end"
            stamps.append(stamp)
            event = verify_webhook(SECRET, item.headers, item.body, now=int(item.at))
            assert item.headers["x-completion-signature"] == legacy_signature(SECRET, "run-cb-flaky")
            assert item.headers["content-type"] == "application/json"
        assert stamps == sorted(stamps)
        event = json.loads(receiver.received[0].body)
        assert event["type"] == "run.finished"
        assert event["state"] == event["status"] == "COMPLETED"
        assert event["output"] == {"text": ">> Hello, Ada! <<"}
        assert event["main_stuff_name"] == "wrapped"
        assert event["result_url"].endswith("/v1/runs/run-cb-flaky/results")
        item = (await deliveries(stack, "run-cb-flaky"))[delivery_id]
        assert item["state"] == "delivered"
        assert [attempt["outcome"] for attempt in item["attempts"]] == ["retry", "retry", "delivered"]
        assert [attempt["status_code"] for attempt in item["attempts"]] == [500, 500, 200]
        assert item["delivered_at"] is not None
        assert item["next_attempt_at"] is None
        record = (await stack.client.get("/v1/runs/run-cb-flaky")).json()
        assert record["deliveries"] == [
            {"delivery_id": delivery_id, "url": receiver.url, "state": "delivered"}
        ]
        version = (await stack.client.get("/v1/version")).json()
        assert version["capabilities"]["callbacks"] is True


async def test_a_receiver_down_at_first_is_delivered_once_it_is_up(
    temporal_address: str, tmp_path: Path
) -> None:
    receiver = CallbackReceiver([200], port=free_port())
    async with run_stack(temporal_address, tmp_path, api_overrides=API, worker_overrides=WORKER) as stack:
        await start(stack, "run-cb-down", [receiver.url])
        delivery_id = webhook_id(run_workflow_id(SINGLE_TENANT, "run-cb-down"), receiver.url)

        async def refused_twice() -> bool:
            item = (await deliveries(stack, "run-cb-down"))[delivery_id]
            return len(item["attempts"]) >= 2 and item["state"] == "delivering"

        await eventually(refused_twice, what="two refused attempts")
        item = (await deliveries(stack, "run-cb-down"))[delivery_id]
        assert {attempt["error"] for attempt in item["attempts"]} == {"connect_error"}
        assert item["next_attempt_at"] is not None
        async with serving(receiver):
            await eventually(lambda: asyncio.sleep(0, receiver.answered(200)), what="delivery once up")
            final = await eventually(
                lambda: _state_is(stack, "run-cb-down", delivery_id, "delivered"), what="delivered state"
            )
        assert len(receiver.received) == 1
        assert final["attempts"][-1]["outcome"] == "delivered"


async def _state_is(stack: RunStack, run_id: str, delivery_id: str, state: str) -> dict[str, Any] | None:
    item = (await deliveries(stack, run_id))[delivery_id]
    return item if item["state"] == state else None


async def test_timeouts_retry_gone_stops_redirects_are_not_followed(
    temporal_address: str, tmp_path: Path
) -> None:
    async with (
        serving(CallbackReceiver(["hang"])) as hanging,
        serving(CallbackReceiver([410])) as gone,
        serving(CallbackReceiver(["redirect"])) as redirecting,
        run_stack(temporal_address, tmp_path, api_overrides=API, worker_overrides=WORKER) as stack,
    ):
        urls = [hanging.url, gone.url, redirecting.url]
        await start(stack, "run-cb-mixed", urls)
        ids = [webhook_id(run_workflow_id(SINGLE_TENANT, "run-cb-mixed"), url) for url in urls]

        async def settled() -> dict[str, dict[str, Any]] | None:
            items = await deliveries(stack, "run-cb-mixed")
            enough = all(len(items[key]["attempts"]) >= 2 for key in (ids[0], ids[2]))
            return items if enough and items[ids[1]]["state"] == "gone" else None

        items = await eventually(settled, what="two attempts each, and gone")
        assert items[ids[0]]["state"] == "delivering"
        assert {attempt["error"] for attempt in items[ids[0]]["attempts"]} == {"timeout"}
        assert [attempt["outcome"] for attempt in items[ids[1]]["attempts"]] == ["gone"]
        assert items[ids[2]]["state"] == "delivering"
        assert {attempt["error"] for attempt in items[ids[2]]["attempts"]} == {"redirect_not_followed"}
        assert {attempt["status_code"] for attempt in items[ids[2]]["attempts"]} == {302}
        await asyncio.sleep(1)  # time for more attempts, had 410 not stopped them
        assert len(gone.received) == 1
        assert {item.path for item in redirecting.received} == {"/hooks/run-done"}


async def test_a_dead_url_never_holds_back_a_live_one_and_fails_at_the_window(
    temporal_address: str, tmp_path: Path
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/never"
    worker = {**WORKER, "callback_retry_window_hours": 3 / 3600}  # a 3 s window
    async with (
        serving(CallbackReceiver([200])) as live,
        run_stack(temporal_address, tmp_path, api_overrides=API, worker_overrides=worker) as stack,
    ):
        body = {"mthds_contents": [FUNCS], "pipe_code": "broken", "inputs": {"name": "x"}}
        answer = await stack.client.post(
            "/v1/start", json={**body, "pipeline_run_id": "run-cb-two", "callback_urls": [dead, live.url]}
        )
        assert answer.status_code == 202
        await eventually(lambda: asyncio.sleep(0, live.answered(200)), what="the live delivery")
        items = await deliveries(stack, "run-cb-two")
        assert items[webhook_id(run_workflow_id(SINGLE_TENANT, "run-cb-two"), dead)]["state"] == "delivering"
        event = json.loads(live.received[0].body)
        assert event["state"] == "FAILED"
        assert event["error"]["code"] == "pipe.function_failed"
        assert "output" not in event
        failed = await eventually(
            lambda: _state_is(
                stack, "run-cb-two", webhook_id(run_workflow_id(SINGLE_TENANT, "run-cb-two"), dead), "failed"
            ),
            what="the dead URL's window to close",
        )
        assert all(attempt["outcome"] == "retry" for attempt in failed["attempts"])
        record = (await stack.client.get("/v1/runs/run-cb-two")).json()
        assert record["state"] == "FAILED", "a delivery never changes the run's state"


async def test_a_run_without_callbacks_has_no_deliveries(temporal_address: str, tmp_path: Path) -> None:
    async with run_stack(temporal_address, tmp_path, api_overrides=API, worker_overrides=WORKER) as stack:
        answer = await stack.client.post("/v1/execute", json=greet_body(pipeline_run_id="run-cb-none"))
        assert answer.status_code == 200
        listed = await stack.client.get("/v1/runs/run-cb-none/deliveries")
        assert listed.json() == {"pipeline_run_id": "run-cb-none", "items": []}
        missing = await stack.client.get("/v1/runs/nope/deliveries")
        assert missing.status_code == 404
