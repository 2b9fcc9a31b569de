"""The workflow side of resume (issue 19), on the session's Temporal dev server with a real worker.

A run's second run that names it in `reuse_runs` (started here straight on Temporal with the first
run's own `RunSpec`, as the resume route does) makes no call the first one completed: its end counts
those invocations apart (`reused_invocations`, `reused_cost_usd`, never in `model_calls` or
`cost_usd`), and each reused invocation's progress entry names the run it came from. A batch run as
chunk workflows resumes item by item, in both failure modes.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from api.auth import SINGLE_TENANT, AuthMode, Caller
from api.run_records import read_run, read_spec
from shared.runs.invocations import invocations
from shared.runs.names import (
    BATCH_WORKFLOW,
    CHUNK_WORKFLOW,
    MEMO_LOOKUP_ACTIVITY,
    RUN_OPERATOR_ACTIVITY,
    RUN_WORKFLOW,
    run_workflow_id,
)
from shared.runs.workflow_io import RunEnd, RunSpec
from tests.helpers.function_bundles import batch_bundle, chain_bundle
from tests.helpers.model_servers.model_server import ModelServer
from tests.helpers.model_stack import model_stack
from tests.helpers.resume_functions import RECORDED, recorded_calls
from tests.helpers.run_stack import RunStack, run_stack
from worker.runner import build_replayer
from worker.temporal_connection import connect

CALLER = Caller(SINGLE_TENANT, AuthMode.NONE)
# Small enough that a 20-item batch leaves the run as four chunk workflows of five items, run one item
# at a time: the items complete in order, so a run failed at item k completed exactly the items before.
# (A resumed chunk lets all its items ask the memo at once, and still runs one call at a time.)
CHUNKED: dict[str, Any] = {
    "batch_inline_max_items": 4,
    "batch_chunk_items": 5,
    "batch_chunk_concurrency": 1,
    "batch_window_chunks": 1,
    "pipe_activity_max_attempts": 1,
}
# The same chunks, each running all its items at once (its resumed items ask the memo together), and a
# batch workflow that continues as new after every two chunks: the counts add up across its histories.
CHUNKED_WIDE: dict[str, Any] = {
    **CHUNKED,
    "batch_chunk_concurrency": 5,
    "batch_window_chunks": 2,
    "batch_chunks_per_history": 2,
}
ITEMS = [f"i{index:02d}" for index in range(20)]

KEY = "sk-test-resume-workflow"
DECK = """
[models.test-llm]
type = "llm"
provider = "openai"
model = "test-model"
costs = { input = 2.0, output = 8.0 }
"""
LLM_CHAIN = """domain = "resume_llm"
main_pipe = "two_tags"

[pipe.tag]
type = "PipeLLM"
description = "Tags the name"
inputs = { name = "Text" }
output = "Text"
model = "test-llm"
prompt = "Tag {{ name }}."

[pipe.retag]
type = "PipeLLM"
description = "Tags the tag"
inputs = { tagged = "Text" }
output = "Text"
model = "test-llm"
prompt = "Again {{ tagged }}."

[pipe.two_tags]
type = "PipeSequence"
description = "Two model calls, the second reading the first"
inputs = { name = "Text" }
output = "Text"
steps = [{ pipe = "tag", result = "tagged" }, { pipe = "retag", result = "retagged" }]
"""


@pytest.fixture
async def temporal(temporal_address: str) -> Client:
    return await connect(temporal_address)


@pytest.fixture
def calls_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where `recorded_echo` records its completed calls (the worker runs in this process)."""
    path = tmp_path / "calls.txt"
    monkeypatch.setenv("RESUME_CALLS_FILE", str(path))
    return path


@pytest.fixture
def broken_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The items `recorded_echo` fails while this file lists them."""
    path = tmp_path / "broken.txt"
    monkeypatch.setenv("RESUME_BROKEN_FILE", str(path))
    return path


async def first_run(stack: RunStack, temporal: Client, body: dict[str, Any]) -> tuple[str, RunEnd]:
    """A run started through `/v1/start`, and its end as the workflow answered it."""
    run_id = f"first-{uuid.uuid4()}"
    started = await stack.client.post("/v1/start", json={**body, "pipeline_run_id": run_id})
    assert started.status_code == 202, started.text
    await stack.wait_for_end(run_id, within=60)
    handle = temporal.get_workflow_handle(run_workflow_id(CALLER.tenant_key, run_id), result_type=RunEnd)
    return run_id, await handle.result()


async def reusing_run(stack: RunStack, temporal: Client, reused_id: str) -> tuple[str, RunEnd]:
    """A new run of `reused_id`'s own request, allowed to reuse its memo entries; its end."""
    record = await read_run(temporal, reused_id, caller=CALLER)
    assert record is not None
    spec = await read_spec(temporal, record)
    assert isinstance(spec, RunSpec)
    run_id = f"second-{uuid.uuid4()}"
    resumed = spec.model_copy(update={"run_id": run_id, "resumed_from": reused_id, "reuse_runs": [reused_id]})
    handle = await temporal.start_workflow(
        RUN_WORKFLOW,
        resumed,
        id=run_workflow_id(CALLER.tenant_key, run_id),
        task_queue=stack.task_queue,
        result_type=RunEnd,
    )
    return run_id, await handle.result()


async def assert_every_history_replays(temporal: Client, run_id: str) -> None:
    """The run's workflow and every child of it (batch, chunks) replay on the current code."""
    run = run_workflow_id(CALLER.tenant_key, run_id)
    replayer = build_replayer()
    ids = [
        run,
        *[execution.id async for execution in temporal.list_workflows(f'WorkflowId STARTS_WITH "{run}/"')],
    ]
    assert len(ids) > 2  # the run, its batch and its chunks
    for workflow_id in ids:
        history = await temporal.get_workflow_handle(workflow_id).fetch_history()
        result = await replayer.replay_workflow(history)  # raises on any nondeterminism
        assert result.replay_failure is None


async def batch_histories(temporal: Client, run_id: str) -> int:
    """How many histories the run's batch workflow went through (one more per continue-as-new)."""
    run = run_workflow_id(CALLER.tenant_key, run_id)
    query = f'WorkflowId STARTS_WITH "{run}/" AND WorkflowType = "{BATCH_WORKFLOW}"'
    return len([execution async for execution in temporal.list_workflows(query)])


async def chunk_activities(temporal: Client, run_id: str) -> list[str]:
    """The activity types every chunk workflow of the run scheduled."""
    run = run_workflow_id(CALLER.tenant_key, run_id)
    scheduled: list[str] = []
    async for execution in temporal.list_workflows(
        f'WorkflowId STARTS_WITH "{run}/" AND WorkflowType = "{CHUNK_WORKFLOW}"'
    ):
        handle = temporal.get_workflow_handle(execution.id, run_id=execution.run_id)
        async for event in handle.fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                scheduled.append(event.activity_task_scheduled_event_attributes.activity_type.name)
    return scheduled


def main_items(end: RunEnd) -> list[Any]:
    assert end.working_memory is not None, end
    assert end.main_stuff_name is not None
    return end.working_memory["root"][end.main_stuff_name]["content"]["items"]


def progress_entries(end: RunEnd) -> dict[str, dict[str, Any]]:
    assert end.progress is not None
    return {entry["pipe_code"]: entry for entry in invocations(end.progress.events)}


async def test_a_second_run_reuses_every_invocation_of_the_first_and_calls_nothing(
    temporal_address: str, tmp_path: Path, temporal: Client, calls_file: Path
) -> None:
    body = {"mthds_contents": [chain_bundle(RECORDED, 3, "resume_chain")], "inputs": {"name": "Ada"}}
    async with run_stack(temporal_address, tmp_path) as stack:
        first_id, first = await first_run(stack, temporal, body)
        assert first.state == "COMPLETED", first.error
        assert recorded_calls(calls_file) == ["Ada", "Ada+", "Ada++"]
        second_id, second = await reusing_run(stack, temporal, first_id)
    assert second.state == "COMPLETED", second.error
    assert recorded_calls(calls_file) == ["Ada", "Ada+", "Ada++"]  # no call made again
    assert first.reused_invocations == 0
    assert second.reused_invocations == 3
    assert second.model_calls == 0
    assert second.cost_usd is None
    assert second.reused_cost_usd is None  # a function call has no price
    assert first.working_memory is not None
    assert second.working_memory is not None
    assert second.working_memory["root"]["text_3"]["content"] == {"text": "Ada+++"}
    entries = progress_entries(second)
    assert {
        code: entries[code].get("reused_from") for code in ("step_1", "step_2", "step_3")
    } == dict.fromkeys(("step_1", "step_2", "step_3"), first_id)
    assert "reused_from" not in entries["chain"]  # the sequence ran: only operators are reused
    assert second.progress is not None
    assert second.progress.counters.reused_invocations == 3
    # The first run's events keep their shape: no reuse, no field.
    assert first.progress is not None
    assert all("reused_from" not in event.data for event in first.progress.events)
    assert "reused_invocations" not in first.progress.counters.model_dump()
    assert second_id != first_id


async def test_the_resume_route_shows_reuse_in_progress_and_status(
    temporal_address: str, tmp_path: Path, temporal: Client, calls_file: Path, broken_file: Path
) -> None:
    await asyncio.to_thread(broken_file.write_text, "Bo+", encoding="utf-8")  # the second step fails
    body = {"mthds_contents": [chain_bundle(RECORDED, 2, "resume_route")], "inputs": {"name": "Bo"}}
    second_id = f"second-{uuid.uuid4()}"
    async with run_stack(temporal_address, tmp_path) as stack:
        first_id, first = await first_run(stack, temporal, body)
        assert first.state == "FAILED"
        await asyncio.to_thread(broken_file.unlink)
        resumed = await stack.client.post(f"/v1/runs/{first_id}/resume", json={"pipeline_run_id": second_id})
        assert resumed.status_code == 202, resumed.text
        status = await stack.wait_for_end(second_id, within=60)
        progress = await stack.client.get(f"/v1/runs/{second_id}/progress")
    assert status["state"] == "COMPLETED", status
    assert status["progress"]["reused_invocations"] == 1
    assert recorded_calls(calls_file) == ["Bo", "Bo+"]  # the first step once, the second once it passed
    assert progress.status_code == 200, progress.text
    entries = {entry["pipe_code"]: entry for entry in progress.json()["invocations"]}
    assert entries["step_1"]["reused_from"] == first_id
    assert "reused_from" not in entries["step_2"]  # it ran
    assert progress.json()["counters"]["reused_invocations"] == 1


async def test_reused_model_calls_are_neither_calls_nor_cost_of_the_second_run(
    temporal_address: str, tmp_path: Path, temporal: Client
) -> None:
    server = ModelServer("openai", api_key=KEY)
    body = {"mthds_contents": [LLM_CHAIN], "inputs": {"name": "Ada"}}
    async with model_stack(temporal_address, tmp_path, [server], deck=DECK, keys={"openai": KEY}) as stack:
        first_id, first = await first_run(stack, temporal, body)
        assert first.state == "COMPLETED", first.error
        requests = len(server.requests())
        _, second = await reusing_run(stack, temporal, first_id)
    assert second.state == "COMPLETED", second.error
    assert len(server.requests()) == requests == 2  # the provider saw nothing of the second run
    assert first.model_calls == 2
    assert first.cost_usd is not None
    assert first.cost_usd > 0
    assert (second.model_calls, second.cost_usd, second.tokens, second.tokens_usages) == (0, None, {}, [])
    assert second.reused_invocations == 2
    assert second.reused_cost_usd == pytest.approx(first.cost_usd)
    assert second.progress is not None
    assert (second.progress.counters.model_calls, second.progress.counters.reused_invocations) == (0, 2)


async def test_a_chunked_batch_failed_at_an_item_resumes_from_that_item(
    temporal_address: str, tmp_path: Path, temporal: Client, calls_file: Path, broken_file: Path
) -> None:
    await asyncio.to_thread(broken_file.write_text, "i12", encoding="utf-8")
    body = {"mthds_contents": [batch_bundle(RECORDED, "resume_batch")], "inputs": {"items": ITEMS}}
    async with run_stack(temporal_address, tmp_path, worker_overrides=CHUNKED) as stack:
        first_id, first = await first_run(stack, temporal, body)
        assert first.state == "FAILED"
        assert recorded_calls(calls_file) == ITEMS[:12]
        # Resumed before the cause is fixed: it fails again at the same item, its reuse still counted
        # (by the failed batch's tally of its chunks: two whole ones and the failed one's two items).
        again_id, again = await reusing_run(stack, temporal, first_id)
        assert again.state == "FAILED"
        assert again.reused_invocations == 12
        assert recorded_calls(calls_file) == ITEMS[:12]
        await asyncio.to_thread(broken_file.unlink)  # the cause is fixed
        second_id, second = await reusing_run(stack, temporal, first_id)
    assert second.state == "COMPLETED", second.error
    # Only the failed item and those after it, each once.
    assert sorted(recorded_calls(calls_file)[12:]) == ITEMS[12:]
    assert main_items(second) == [{"text": f"{item}+"} for item in ITEMS]
    assert second.reused_invocations == 12
    assert second.model_calls == 0
    # The two chunks the memo answered whole ran no chunk workflow (`reuse_chunk`); the other two asked
    # the memo once each, whatever their concurrency; an operator activity per item run again.
    activities = await chunk_activities(temporal, second_id)
    assert activities.count(RUN_OPERATOR_ACTIVITY) == 8
    assert activities.count(MEMO_LOOKUP_ACTIVITY) == 2
    # Memo lookups, a failed chunk keeping its usage and the failed batch's tally all replay.
    await assert_every_history_replays(temporal, again_id)
    await assert_every_history_replays(temporal, second_id)


async def test_a_chunk_that_completed_whole_is_reused_from_its_chunk_entry_without_its_items_entries(
    temporal_address: str, tmp_path: Path, temporal: Client, calls_file: Path, broken_file: Path
) -> None:
    """A chunk whose every item completed leaves one chunk memo entry; a resume copies its outputs from
    it. Proved by removing every invocation entry before the resume: the whole chunks are still reused
    (no call), while the failed chunk's two completed items, which only had invocation entries, run
    again."""
    await asyncio.to_thread(broken_file.write_text, "i12", encoding="utf-8")
    body = {"mthds_contents": [batch_bundle(RECORDED, "resume_chunk_memo")], "inputs": {"items": ITEMS}}
    async with run_stack(temporal_address, tmp_path, worker_overrides=CHUNKED) as stack:
        first_id, first = await first_run(stack, temporal, body)
        assert first.state == "FAILED"
        memo = tmp_path / "storage" / "memo"
        chunk_entries = sorted(path.name for path in memo.glob(f"*/chunk-*/{first_id}.json"))
        assert len(chunk_entries) == 2  # chunks 0 and 1 completed whole; chunk 2 failed at i12
        for folder in memo.glob("*/*"):
            if not folder.name.startswith("chunk-"):
                await asyncio.to_thread(shutil.rmtree, folder)
        await asyncio.to_thread(broken_file.unlink)
        second_id, second = await reusing_run(stack, temporal, first_id)
    assert second.state == "COMPLETED", second.error
    assert recorded_calls(calls_file)[12:] == ["i10", "i11", *ITEMS[12:]]
    assert main_items(second) == [{"text": f"{item}+"} for item in ITEMS]
    assert second.reused_invocations == 10
    await assert_every_history_replays(temporal, second_id)


async def test_a_collected_batch_resumes_only_its_failed_items(
    temporal_address: str, tmp_path: Path, temporal: Client, calls_file: Path, broken_file: Path
) -> None:
    await asyncio.to_thread(broken_file.write_text, "i03 i17", encoding="utf-8")
    body = {
        "mthds_contents": [batch_bundle(RECORDED, "resume_collect")],
        "inputs": {"items": ITEMS},
        "batch_failures": "collect",
    }
    async with run_stack(temporal_address, tmp_path, worker_overrides=CHUNKED_WIDE) as stack:
        first_id, first = await first_run(stack, temporal, body)
        assert first.state == "COMPLETED", first.error
        assert [record["item_index"] for record in first.batch_failures or []] == [3, 17]
        assert len(recorded_calls(calls_file)) == 18
        await asyncio.to_thread(broken_file.unlink)
        second_id, second = await reusing_run(stack, temporal, first_id)
    assert second.state == "COMPLETED", second.error
    assert recorded_calls(calls_file)[18:] == ["i03", "i17"]
    assert main_items(second) == [{"text": f"{item}+"} for item in ITEMS]
    assert second.batch_failures == []
    assert second.reused_invocations == 18
    # The reused items scheduled no operator activity: the two chunks the memo answered whole ran no
    # chunk workflow (`reuse_chunk`), the two with a failed item each asked the memo once for its items.
    activities = await chunk_activities(temporal, second_id)
    assert activities.count(RUN_OPERATOR_ACTIVITY) == 2
    assert activities.count(MEMO_LOOKUP_ACTIVITY) == 2
    assert await batch_histories(temporal, second_id) == 2
