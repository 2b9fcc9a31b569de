"""A cancel's answer is what happens to the run (http-api.md §9.7), on the real Temporal dev server.

The run workflow answers each cancel: accepted (202) means the run ends CANCELLED, even when the cancel
arrives while the run stores its output; once the run's end is settled (it may still be storing its
progress log) the cancel is refused with 409 `run.already_ended` and the run ends as it had settled.
The storage activity is held open by a stand-in registered under its name, so the window is certain.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio import activity

from shared.runs.names import STORE_RUN_OUTPUT_ACTIVITY
from shared.runs.workflow_io import StoreOutputTask
from tests.helpers.api_server import assert_problem
from tests.helpers.run_stack import RunStack, run_stack
from tests.integration.test_run_bad_input import BATCH
from worker.activities.operators import OperatorActivities

# Small enough that a run's working memory is stored by the activity, not carried inline; and the
# batches below stay in the run workflow (they log every item, making a large progress log).
WORKER = {"output_inline_max_kib": 1, "batch_inline_max_items": 2000}


class StoreGate:
    """Holds every storage of the document `name` until released, and says when one has begun."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.entered = asyncio.Event()
        self.released = asyncio.Event()


@pytest.fixture
def gate(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[StoreGate]:
    held = StoreGate(request.param)
    original = OperatorActivities.store_run_output

    @activity.defn(name=STORE_RUN_OUTPUT_ACTIVITY)
    async def gated(self: OperatorActivities, raw: object) -> str:
        # Defined outside the class, the stand-in gets the payload undecoded: decoded here.
        task = StoreOutputTask.model_validate(raw)
        if task.name == held.name:
            held.entered.set()
            await held.released.wait()
        return await original(self, task)

    monkeypatch.setattr(OperatorActivities, "store_run_output", gated)
    yield held
    held.released.set()


async def start(stack: RunStack, words: list[str]) -> str:
    run_id = f"cancel-{uuid.uuid4()}"
    body = {"mthds_contents": [BATCH], "inputs": {"words": words}, "pipeline_run_id": run_id}
    started = await stack.client.post("/v1/start", json=body)
    assert started.status_code == 202, started.text
    return run_id


@pytest.mark.parametrize("gate", ["working_memory.json"], indirect=True)
async def test_a_cancel_accepted_while_the_output_is_stored_ends_the_run_cancelled(
    temporal_address: str, tmp_path: Path, gate: StoreGate
) -> None:
    async with run_stack(temporal_address, tmp_path, worker_overrides=WORKER) as stack:
        run_id = await start(stack, [f"word-{index}" for index in range(100)])
        await asyncio.wait_for(gate.entered.wait(), timeout=60)
        cancel = await stack.client.post(f"/v1/runs/{run_id}/cancel", json={"reason": "changed my mind"})
        assert cancel.status_code == 202, cancel.text
        assert cancel.json()["cancel_requested"] is True
        gate.released.set()
        final = await stack.wait_for_end(run_id, within=60)
        assert final["state"] == "CANCELLED", final
        assert final["error"]["code"] == "run.cancelled"
        assert final["error"]["params"]["reason"] == "changed my mind"
        results = await stack.client.get(f"/v1/runs/{run_id}/results")
        assert_problem(results, 409, "run.failed")


@pytest.mark.parametrize("gate", ["progress.json"], indirect=True)
async def test_a_cancel_after_the_end_is_settled_is_refused(
    temporal_address: str, tmp_path: Path, gate: StoreGate
) -> None:
    # 1,500 items log over 256 KiB of progress, which the run stores after it has settled its end.
    async with run_stack(temporal_address, tmp_path, worker_overrides=WORKER) as stack:
        run_id = await start(stack, [f"word-{index}" for index in range(1500)])
        await asyncio.wait_for(gate.entered.wait(), timeout=90)
        status = (await stack.client.get(f"/v1/runs/{run_id}/status")).json()
        assert status["state"] == "RUNNING"  # the workflow is still open, storing its progress
        listed = (await stack.client.get("/v1/runs?limit=100")).json()["items"]
        assert [item["state"] for item in listed if item["pipeline_run_id"] == run_id] == ["RUNNING"]
        cancel = await stack.client.post(f"/v1/runs/{run_id}/cancel")
        refused = assert_problem(cancel, 409, "run.already_ended")
        assert refused["params"]["run_status"] == "COMPLETED"
        gate.released.set()
        final = await stack.wait_for_end(run_id, within=60)
        assert final["state"] == "COMPLETED", final
        results = await stack.client.get(f"/v1/runs/{run_id}/results?artifacts=main_stuff")
        assert results.status_code == 200, results.text[:300]
        assert len(results.json()["main_stuff"]["items"]) == 1500
