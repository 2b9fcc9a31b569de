"""Temporal's replay safety: the current workflow code replays committed and freshly recorded histories.

A committed history that no longer replays means a workflow change would break runs already in flight
(tests/data/histories/README.md); a fresh one that does not replay means the code is not deterministic.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.worker import Replayer

from api.auth import SINGLE_TENANT
from shared.runs.names import RUN_OPERATOR_ACTIVITY, STORE_BATCH_ACTIVITY, chunk_workflow_id, run_workflow_id
from shared.runtime.batch_plan import batch_key
from tests.helpers.record_histories import BATCH_PARALLEL_COMPLETED, HISTORY_DIR, RECORDINGS, record
from tests.helpers.run_stack import run_stack
from worker.runner import build_replayer
from worker.temporal_connection import connect

COMMITTED = sorted(HISTORY_DIR.glob("*.json"))
# Read at collection, outside the event loop.
COMMITTED_TEXT = {path.stem: path.read_text(encoding="utf-8") for path in COMMITTED}


def recorded_workflow_id(name: str) -> str:
    suffix = next((recording.workflow for recording in RECORDINGS if recording.name == name), "")
    return run_workflow_id(SINGLE_TENANT, f"replay-{name}") + suffix


def batch_chunk(temporal: Client, batch_workflow_id: str) -> WorkflowHandle[Any, Any]:
    return temporal.get_workflow_handle(chunk_workflow_id(batch_workflow_id, 0))


@pytest.fixture
async def temporal(temporal_address: str) -> Client:
    return await connect(temporal_address)


@pytest.fixture
def replayer() -> Replayer:
    return build_replayer()


def test_every_recording_has_a_committed_history() -> None:
    assert {path.stem for path in COMMITTED} == {recording.name for recording in RECORDINGS}


@pytest.mark.parametrize("name", sorted(COMMITTED_TEXT))
async def test_a_committed_history_replays(replayer: Replayer, name: str) -> None:
    # Replayed under the workflow id it ran with: child workflow ids are derived from it.
    history = WorkflowHistory.from_json(recorded_workflow_id(name), COMMITTED_TEXT[name])
    assert history.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    result = await replayer.replay_workflow(history)  # raises on any nondeterminism
    assert result.replay_failure is None


async def test_a_fresh_history_replays(
    temporal_address: str,
    temporal: Client,
    replayer: Replayer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLOW_SECONDS", str(BATCH_PARALLEL_COMPLETED.slow_seconds))
    async with run_stack(
        temporal_address, tmp_path / "stack", worker_overrides=BATCH_PARALLEL_COMPLETED.worker_overrides
    ) as stack:
        run_id = f"replay-fresh-{uuid.uuid4()}"
        history = await record(stack, temporal, BATCH_PARALLEL_COMPLETED, run_id)
        # The batch of three PipeFunc left the run: a batch workflow ran them in one chunk workflow.
        batch = temporal.get_workflow_handle(
            f"{history.workflow_id}/batch/{batch_key('replay.fan_out/branch_1')}"
        )
        children = [await batch.fetch_history(), await batch_chunk(temporal, batch.id).fetch_history()]
    scheduled = [
        event.activity_task_scheduled_event_attributes.activity_type.name
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    # The sequence's function, and the store of the batch's items (in either order: they run at once).
    assert sorted(scheduled) == sorted([RUN_OPERATOR_ACTIVITY, STORE_BATCH_ACTIVITY])
    for recorded in (history, *children):
        result = await replayer.replay_workflow(recorded)
        assert result.replay_failure is None
