"""Large batches over a real Temporal dev server and real HTTP (issue 14): a batch whose branch calls out
leaves the run workflow and runs as a batch workflow over chunk workflows (docs/design/large-batches.md).

A 4,000-item batch (20,000 items in the soak run: `make soak`) completes with its outputs in order and
every workflow history of the run under 10,000 events, over 100 chunks and five batch histories; a cancel ends every child of a 20,000-item batch within seconds; a cancel and a run timeout
leave the batch's partial progress readable.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from api.auth import SINGLE_TENANT
from shared.runs.names import batch_workflow_id, chunk_workflow_id, run_workflow_id
from shared.runtime.batch_plan import batch_key
from tests.helpers.run_stack import RunStack, run_stack
from tests.helpers.worker_process import worker_environment, worker_processes
from tests.integration.test_batch_failures import CHECKS
from worker.temporal_connection import connect

HISTORY_EVENTS_BOUND = 10_000


@pytest.fixture
async def temporal(temporal_address: str) -> Client:
    return await connect(temporal_address)


async def history_lengths(temporal: Client, workflow_id: str) -> list[int]:
    """The event count of every execution under `workflow_id` (each history after a continue-as-new)."""
    lengths: list[int] = []
    async for execution in temporal.list_workflows(f'WorkflowId = "{workflow_id}"'):
        handle = temporal.get_workflow_handle(workflow_id, run_id=execution.run_id)
        lengths.append(len([event async for event in handle.fetch_history_events()]))
    return lengths


async def running_children(temporal: Client, run_id: str) -> list[str]:
    run = run_workflow_id(SINGLE_TENANT, run_id)
    query = f'WorkflowId STARTS_WITH "{run}/" AND ExecutionStatus = "Running"'
    return [execution.id async for execution in temporal.list_workflows(query)]


@pytest.mark.timeout(900)  # the 20,000 items: about 2.5 minutes on 2 idle CPUs
@pytest.mark.parametrize(
    ("total", "chunk_items"),
    [
        # 100 chunks of 40: the same shape as the soak run, in a fifth of the time (`make test`).
        pytest.param(4_000, 40, id="4000-items"),
        pytest.param(20_000, 200, id="20000-items", marks=pytest.mark.soak),
    ],
)
async def test_a_large_batch_keeps_every_history_bounded_and_its_outputs_in_order(
    temporal_address: str, tmp_path: Path, temporal: Client, total: int, chunk_items: int
) -> None:
    items = [f"ok-{index}" for index in range(total)]
    run_id = f"large-{uuid.uuid4()}"
    # 100 chunks, and a hand-over to a fresh history every 20: the batch workflow continues as new four
    # times, and its counters must come through exact. Two worker processes: one per CPU, each with a
    # slot for every item of a chunk in flight, and 64 of those: fewer, fuller workflow tasks.
    async with run_stack(temporal_address, tmp_path, worker=False) as stack:
        env = worker_environment(
            temporal_address,
            stack.task_queue,
            tmp_path,
            FUNCTION_MODULES="tests.helpers.batch_functions",
            BATCH_CHUNKS_PER_HISTORY="20",
            BATCH_CHUNK_ITEMS=str(chunk_items),
            BATCH_CHUNK_CONCURRENCY="64",
            WORKER_MAX_CONCURRENT_ACTIVITIES="64",
        )
        with worker_processes(env, tmp_path) as workers:
            for worker in (workers.start(), workers.start()):
                await worker.wait_polling()
            body = {"mthds_contents": [CHECKS], "inputs": {"items": items}, "pipeline_run_id": run_id}
            started = await stack.client.post("/v1/start", json=body)
            assert started.status_code == 202, started.text
            status = await stack.wait_for_end(run_id, within=900)
            assert status["state"] == "COMPLETED", status
            first = await stack.client.get(f"/v1/runs/{run_id}/results/items?offset=0&limit=1000")
            last = await stack.client.get(f"/v1/runs/{run_id}/results/items?offset={total - 10}&limit=1000")
            results = await stack.client.get(f"/v1/runs/{run_id}/results", timeout=120)
    assert first.status_code == 200, first.text
    assert first.json()["total"] == total
    assert first.json()["items"] == [{"text": f"ok-{index}+"} for index in range(1000)]
    assert last.json()["items"] == [{"text": f"ok-{index}+"} for index in range(total - 10, total)]
    assert last.json()["next_offset"] is None
    assert results.json()["main_stuff"]["items"] == [{"text": f"{item}+"} for item in items]

    run = run_workflow_id(SINGLE_TENANT, run_id)
    batch = batch_workflow_id(run, batch_key("checks.check_all"))
    lengths = {"run": await history_lengths(temporal, run), "batch": await history_lengths(temporal, batch)}
    chunks = await asyncio.gather(
        *(history_lengths(temporal, chunk_workflow_id(batch, index)) for index in range(100))
    )
    assert len(lengths["batch"]) == 5  # 100 chunks, 20 per history
    assert all(len(chunk) == 1 for chunk in chunks)
    every = [*lengths["run"], *lengths["batch"], *(length for chunk in chunks for length in chunk)]
    assert max(every) < HISTORY_EVENTS_BOUND, (lengths, max(every))


async def wait_for_chunks_in_flight(stack: RunStack, temporal: Client, run_id: str) -> None:
    deadline = time.monotonic() + 60
    while not any("/chunk/" in child for child in await running_children(temporal, run_id)):
        assert time.monotonic() < deadline, "no chunk started within 60 s"
        await asyncio.sleep(0.2)
    del stack


async def wait_for_live_done(stack: RunStack, run_id: str, done: int) -> None:
    deadline = time.monotonic() + 60
    while True:
        status: dict[str, Any] = (await stack.client.get(f"/v1/runs/{run_id}/status")).json()
        progress: dict[str, Any] = status.get("progress") or {}
        batch: dict[str, Any] = progress.get("batch") or {}
        if batch.get("done") == done:
            return
        assert time.monotonic() < deadline, f"the batch's live counts never reached {done} done: {status}"
        await asyncio.sleep(0.2)


async def test_cancelling_a_20000_item_batch_closes_every_child_within_seconds(
    temporal_address: str, tmp_path: Path, temporal: Client
) -> None:
    # The first two chunks (200 items each) end at once; the next ones hold until cancelled.
    done_first = 400
    items: list[Any] = [f"ok-{index}" for index in range(done_first)]
    items += [f"hold-{index}" for index in range(done_first, 20_000)]
    run_id = f"cancel-large-{uuid.uuid4()}"
    # Short heartbeats: the held items hear their cancel within a second.
    async with run_stack(
        temporal_address, tmp_path, worker_overrides={"pipe_activity_heartbeat_seconds": 2}
    ) as stack:
        body = {"mthds_contents": [CHECKS], "inputs": {"items": items}, "pipeline_run_id": run_id}
        assert (await stack.client.post("/v1/start", json=body)).status_code == 202
        await wait_for_chunks_in_flight(stack, temporal, run_id)
        await wait_for_live_done(stack, run_id, done_first)
        asked = time.monotonic()
        cancelled = await stack.client.post(f"/v1/runs/{run_id}/cancel", json={"reason": "enough"})
        assert cancelled.status_code == 202, cancelled.text
        status = await stack.wait_for_end(run_id, within=10)
        assert status["state"] == "CANCELLED"
        # Its partial progress stays readable: the items of the chunks that ended before the cancel.
        assert status["progress"]["batch"] == {
            "path": "checks.check_all",
            "pipe_code": "check_all",
            "total": 20_000,
            "done": done_first,
            "running": 0,
            "failed": 0,
        }, status
        while await running_children(temporal, run_id):
            assert time.monotonic() - asked < 10, await running_children(temporal, run_id)
            await asyncio.sleep(0.2)
    run = run_workflow_id(SINGLE_TENANT, run_id)
    batch = batch_workflow_id(run, batch_key("checks.check_all"))
    # The batch workflow answered its counts to the run that cancelled it (a cancellation carries no
    # details): it closed completed; its chunks in flight closed cancelled.
    described = await temporal.get_workflow_handle(batch).describe()
    assert described.status == WorkflowExecutionStatus.COMPLETED
    held = await temporal.get_workflow_handle(chunk_workflow_id(batch, 2)).describe()
    assert held.status == WorkflowExecutionStatus.CANCELED


async def test_a_batch_past_the_run_timeout_fails_the_run_with_its_partial_progress(
    temporal_address: str, tmp_path: Path, temporal: Client
) -> None:
    # The first two chunks (200 items each) end at once, the next ones hold: the run times out.
    items: list[Any] = [f"ok-{index}" for index in range(400)] + [
        f"hold-{index}" for index in range(400, 1200)
    ]
    run_id = f"timeout-large-{uuid.uuid4()}"
    async with run_stack(
        temporal_address, tmp_path, worker_overrides={"pipe_activity_heartbeat_seconds": 2}
    ) as stack:
        body = {
            "mthds_contents": [CHECKS],
            "inputs": {"items": items},
            "pipeline_run_id": run_id,
            "run_timeout_seconds": 8,
        }
        assert (await stack.client.post("/v1/start", json=body)).status_code == 202
        status = await stack.wait_for_end(run_id, within=40)
        ended = time.monotonic()
        while await running_children(temporal, run_id):
            assert time.monotonic() - ended < 10, await running_children(temporal, run_id)
            await asyncio.sleep(0.2)
    assert status["state"] == "FAILED", status
    assert status["error"]["code"] == "run.timed_out", status
    assert status["progress"]["batch"]["done"] == 400, status
    assert status["progress"]["batch"]["running"] == 0, status
