"""Temporal's replay safety: the current workflow code replays committed and freshly recorded histories.

A committed history that no longer replays means a workflow change would break runs already in flight
(tests/data/histories/README.md); a fresh one that does not replay means the code is not deterministic.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer

from shared.runs.names import RUN_OPERATOR_ACTIVITY
from tests.helpers.record_histories import BATCH_PARALLEL_COMPLETED, HISTORY_DIR, RECORDINGS, record
from tests.helpers.run_stack import run_stack
from worker.runner import build_replayer
from worker.temporal_connection import connect

COMMITTED = sorted(HISTORY_DIR.glob("*.json"))
# Read at collection, outside the event loop.
COMMITTED_TEXT = {path.stem: path.read_text(encoding="utf-8") for path in COMMITTED}


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
    history = WorkflowHistory.from_json(name, COMMITTED_TEXT[name])
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
    scheduled = [
        event.activity_task_scheduled_event_attributes.activity_type.name
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert scheduled == [RUN_OPERATOR_ACTIVITY] * 4  # three batch items and the sequence's function
    result = await replayer.replay_workflow(history)
    assert result.replay_failure is None
