"""Failed batch items over real HTTP and a real Temporal dev server (issue 14): the run fails naming the
item and cancels the others, or, with `batch_failures: "collect"`, completes with each failed item
recorded in `/v1/execute` and `/results`; bad values and lists over BATCH_MAX_ITEMS start nothing.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from api.auth import SINGLE_TENANT
from shared.runs.names import batch_workflow_id, chunk_workflow_id, run_workflow_id
from shared.runs.workflow_io import RunEnd
from shared.runtime.batch_plan import batch_key
from tests.helpers.api_server import assert_problem
from tests.helpers.batch_functions import MARKED, SPLIT
from tests.helpers.run_stack import run_stack
from tests.integration.test_run_bad_input import assert_never_started
from worker.settings import WorkerSettings
from worker.temporal_connection import connect

# Items of one chunk in flight at once, by default (the test's batch of 50 is one chunk).
IN_FLIGHT = WorkerSettings.model_fields["batch_chunk_concurrency"].default

CHECKS = f"""domain = "checks"
main_pipe = "check_all"

[pipe.check_all]
type = "PipeBatch"
description = "Checks every item"
inputs = {{ items = "Text[]" }}
output = "Text[]"
branch_pipe_code = "check_one"
input_list_name = "items"
input_item_name = "item"

[pipe.check_one]
type = "PipeFunc"
description = "Checks one item"
inputs = {{ item = "Text" }}
output = "Text"
function_name = "{MARKED}"

[pipe.check_groups]
type = "PipeBatch"
description = "Checks every group"
inputs = {{ groups = "Text[]" }}
output = "Text[]"
branch_pipe_code = "check_group"
input_list_name = "groups"
input_item_name = "group"

[pipe.check_group]
type = "PipeSequence"
description = "Splits a group, then checks its items"
inputs = {{ group = "Text" }}
output = "Text[]"
steps = [
  {{ pipe = "split", result = "items" }},
  {{ pipe = "check_all", result = "checked" }},
]

[pipe.split]
type = "PipeFunc"
description = "Splits a group in three"
inputs = {{ group = "Text" }}
output = "Text[3]"
function_name = "{SPLIT}"
"""

# The validator cannot type a field of Anything: only the run sees that it is not a list. (The batch is
# not the last step, so the dry run of validation, whose mock has no crates, still ends with an output.)
BATCH_OVER_ANYTHING = """domain = "lists"
main_pipe = "label"

[pipe.label]
type = "PipeSequence"
description = "Labels each crate of a thing, then sums up"
inputs = { thing = "Anything" }
output = "Text"
steps = [
  { pipe = "label_one", batch_over = "thing.crates", batch_as = "crate", result = "labels" },
  { pipe = "sum_up", result = "summary" },
]

[pipe.label_one]
type = "PipeCompose"
description = "Label"
inputs = { crate = "Text" }
output = "Text"
template = "Crate $crate"

[pipe.sum_up]
type = "PipeCompose"
description = "Sums up"
inputs = { thing = "Anything" }
output = "Text"
template = "Labelled {{ thing }}"
"""


def new_id(label: str) -> str:
    return f"{label}-{uuid.uuid4()}"


@pytest.fixture
async def temporal(temporal_address: str) -> Client:
    return await connect(temporal_address)


def chunk_id(run_id: str, batch_path: str, chunk: int) -> str:
    """The workflow id of a chunk of the batch at `batch_path` (a batch whose branch calls out leaves
    the run workflow: docs/design/large-batches.md)."""
    batch = batch_workflow_id(run_workflow_id(SINGLE_TENANT, run_id), batch_key(batch_path))
    return chunk_workflow_id(batch, chunk)


async def activity_events(temporal: Client, workflow_id: str) -> dict[EventType.ValueType, int]:
    counts: dict[EventType.ValueType, int] = {}
    handle = temporal.get_workflow_handle(workflow_id)
    async for event in handle.fetch_history_events():
        counts[event.event_type] = counts.get(event.event_type, 0) + 1
    return counts


async def test_by_default_a_failed_item_fails_the_run_naming_it_and_cancels_the_others(
    temporal_address: str, tmp_path: Path, temporal: Client
) -> None:
    # The first items run at once (a chunk's concurrency): all hold but item 5, which fails at once.
    items = [f"hold-{index}" for index in range(IN_FLIGHT)] + [
        f"ok-{index}" for index in range(IN_FLIGHT, 50)
    ]
    items[5] = "bad-5"
    run_id = new_id("one-bad-item")
    # Short heartbeats: the held activities hear their cancel within a second, so the worker stops soon.
    # Slots for every item in flight: the held ones must not keep item 5 waiting for a slot.
    overrides = {"pipe_activity_heartbeat_seconds": 2, "worker_max_concurrent_activities": IN_FLIGHT + 4}
    async with run_stack(temporal_address, tmp_path, worker_overrides=overrides) as stack:
        body = {"mthds_contents": [CHECKS], "inputs": {"items": items}, "pipeline_run_id": run_id}
        problem = assert_problem(
            await stack.client.post("/v1/execute", json=body), 422, "pipe.function_failed"
        )
        assert problem["params"]["pipe"] == "check_one"
        assert problem["params"]["batch_pipe"] == "check_all"
        assert problem["params"]["item_index"] == 5
        assert problem["params"]["item_path"] == "checks.check_all/item_6"
        assert problem["location"]["pipe"] == "check_one"
        assert problem["detail"].startswith("Item 5 (0-based) of the batch 'check_all' failed: ")
        assert (await stack.wait_for_end(run_id))["state"] == "FAILED"
        # The items ran in the batch's one chunk workflow, which ended with the batch.
        events = await activity_events(temporal, chunk_id(run_id, "checks.check_all", 0))
        end = await temporal.get_workflow_handle(
            run_workflow_id(SINGLE_TENANT, run_id), result_type=RunEnd
        ).result()
    # The run's log counts the batch's items as the batch workflow ended them: one failed of 50.
    assert end.progress is not None
    counts = [event.data for event in end.progress.events if event.event == "batch.progress"]
    assert (counts[-1]["total"], counts[-1]["failed"]) == (50, 1)
    # No item started after the failure; the others running were cancelled.
    # (Besides the chunk's two loads, its method and memory, then its items; and, the chunk having
    # failed, the one step that stores its usage for the batch's tally.)
    assert events[EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED] == IN_FLIGHT + 3
    assert events[EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED] == IN_FLIGHT - 1


async def test_collect_completes_with_the_outputs_in_order_and_the_failures_readable(
    temporal_address: str, tmp_path: Path, temporal: Client
) -> None:
    bad = {7, 500, 993}
    items = [f"bad-{index}" if index in bad else f"ok-{index}" for index in range(1000)]
    run_id = new_id("collect")
    # A 1 KiB inline limit: the three records are stored (batch_failures.json) and read back by reference.
    async with run_stack(temporal_address, tmp_path, worker_overrides={"output_inline_max_kib": 1}) as stack:
        body = {
            "mthds_contents": [CHECKS],
            "inputs": {"items": items},
            "pipeline_run_id": run_id,
            "batch_failures": "collect",
        }
        executed = await stack.client.post("/v1/execute", json=body, timeout=120)
        assert executed.status_code == 200, executed.text
        answer = executed.json()
        assert answer["state"] == "COMPLETED"
        memory = answer["pipe_output"]["working_memory"]
        main = memory["root"][answer["main_stuff_name"]]["content"]
        assert main["items"] == [{"text": f"{item}+"} for item in items if not item.startswith("bad")]
        results = await stack.client.get(f"/v1/runs/{run_id}/results")
        assert results.status_code == 200, results.text
        assert results.json()["main_stuff"] == main
        only = await stack.client.get(f"/v1/runs/{run_id}/results?artifacts=batch_failures")
        assert only.json() == {"pipeline_run_id": run_id, "batch_failures": answer["batch_failures"]}
        end = await temporal.get_workflow_handle(
            run_workflow_id(SINGLE_TENANT, run_id), result_type=RunEnd
        ).result()
    assert end.batch_failures is None
    assert end.batch_failures_ref is not None
    for failures in (answer["batch_failures"], results.json()["batch_failures"]):
        assert [(item["pipe"], item["item_index"], item["path"]) for item in failures] == [
            ("check_all", index, f"checks.check_all/item_{index + 1}") for index in sorted(bad)
        ]
        for item in failures:
            problem: dict[str, Any] = item["problem"]
            assert problem["code"] == "pipe.function_failed"
            assert problem["pipeline_run_id"] == run_id
            assert problem["params"]["item_index"] == item["item_index"]
            assert problem["location"]["pipe"] == "check_one"
            assert f"the item bad-{item['item_index']} is marked bad" in problem["detail"]


async def test_collect_records_inner_batch_items_with_their_full_path_and_the_default_reports_none(
    temporal_address: str, tmp_path: Path
) -> None:
    async with run_stack(temporal_address, tmp_path) as stack:
        body = {
            "mthds_contents": [CHECKS],
            "pipe_code": "check_groups",
            "inputs": {"groups": ["fine", "bad"]},
            "batch_failures": "collect",
        }
        answer = (await stack.client.post("/v1/execute", json=body)).json()
        assert answer["state"] == "COMPLETED", answer
        memory = answer["pipe_output"]["working_memory"]
        assert memory["root"][answer["main_stuff_name"]]["content"]["items"] == [
            {"items": [{"text": f"fine-{number}+"} for number in range(1, 4)]},
            {"items": []},
        ]
        assert [(item["pipe"], item["item_index"], item["path"]) for item in answer["batch_failures"]] == [
            ("check_all", index, f"checks.check_groups/item_2/step_2/item_{index + 1}") for index in range(3)
        ]
        # Without the option, the answer has no batch_failures member.
        plain = {"mthds_contents": [CHECKS], "inputs": {"items": ["ok-1"]}}
        answer = (await stack.client.post("/v1/execute", json=plain)).json()
        assert answer["state"] == "COMPLETED"
        assert "batch_failures" not in answer
        results = (await stack.client.get(f"/v1/runs/{answer['pipeline_run_id']}/results")).json()
        assert "batch_failures" not in results


async def test_a_batch_over_a_value_that_is_not_a_list_fails_typed_naming_the_pipe(
    temporal_address: str, tmp_path: Path
) -> None:
    async with run_stack(temporal_address, tmp_path) as stack:
        body = {"mthds_contents": [BATCH_OVER_ANYTHING], "inputs": {"thing": {"crates": "only one"}}}
        problem = assert_problem(
            await stack.client.post("/v1/execute", json=body), 422, "pipe.batch_input_not_list"
        )
        assert problem["location"]["pipe"] == "label"
        assert problem["params"]["input"] == "thing.crates"
        assert problem["detail"] == (
            "Pipe 'label' batches over 'thing.crates', which holds a single native.Text, not a list."
        )


async def test_bad_batch_failures_and_lists_over_batch_max_items_start_nothing(
    temporal_address: str, tmp_path: Path, temporal: Client
) -> None:
    async with run_stack(
        temporal_address, tmp_path, worker=False, api_overrides={"batch_max_items": 5}
    ) as stack:
        for value in ("skip", "", "COLLECT", 1, ["collect"]):
            run_id = new_id("bad-mode")
            body = {
                "mthds_contents": [CHECKS],
                "inputs": {"items": ["ok-1"]},
                "batch_failures": value,
                "pipeline_run_id": run_id,
            }
            problem = assert_problem(await stack.client.post("/v1/start", json=body), 422, "request.invalid")
            assert problem["params"] == {"field": "batch_failures"}, value
            await assert_never_started(stack, temporal, run_id)
        six = [f"ok-{index}" for index in range(6)]
        for given in (six, {"concept": "Text", "content": six}):
            run_id = new_id("too-many")
            body = {"mthds_contents": [CHECKS], "inputs": {"items": given}, "pipeline_run_id": run_id}
            problem = assert_problem(await stack.client.post("/v1/start", json=body), 422, "request.invalid")
            assert problem["params"] == {"field": "inputs.items", "limit": 5, "size": 6}
            assert problem["location"] == {"field": "inputs.items"}
            assert "over the 5 items a list input may hold (BATCH_MAX_ITEMS)" in problem["detail"]
            await assert_never_started(stack, temporal, run_id)
