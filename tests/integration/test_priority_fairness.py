"""Request `priority` and tenant fairness (issue 15) over real HTTP, real clients and the real Temporal dev
server: a bad priority is refused naming the field and starts nothing; a run's priority and its tenant's
fairness key reach its batch and chunk workflows and every activity (read by the activity itself); and the
starvation case, measured on a dev server with fairness and on one without.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from mthds.protocol.pipeline_inputs import PipelineInputs
from mthds.runners.api.client import MthdsAPIClient
from pipelex_sdk.client import PipelexAPIClient
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from api.auth import AuthMode, Caller
from shared.runs.names import batch_workflow_id, chunk_workflow_id, run_workflow_id
from shared.runtime.batch_plan import batch_key
from shared.runtime.function_registry import DEFAULT_REGISTRY, pipe_function
from shared.runtime.stuff import Stuff
from tests.helpers.api_server import assert_problem
from tests.helpers.batch_functions import MARKED
from tests.helpers.function_bundles import batch_bundle
from tests.helpers.run_stack import RunStack, run_stack
from tests.integration.test_run_bad_input import assert_never_started, greet_body
from worker.dev_server import free_port, start_dev_server
from worker.temporal_connection import connect_when_healthy

SLOW = "tests.priority_fairness.slow_echo"
QUICK = "tests.priority_fairness.quick_echo"
SLOW_SECONDS = 0.05
# Temporal's priority key for a task whose workflow set none (the middle of the server's 5 levels).
DEFAULT_PRIORITY = 3

# Tenants of this module alone (the fairness key is the tenant's key, not its name).
_SUFFIX = uuid.uuid4().hex[:8]
TENANT_KEYS = {f"big-{_SUFFIX}": "big-tenant-key", f"small-{_SUFFIX}": "small-tenant-key"}
BIG, SMALL = TENANT_KEYS
AUTH = {"auth_mode": "api_key", "api_key": ",".join(f"{tenant}:{key}" for tenant, key in TENANT_KEYS.items())}

HOLDS = f"""domain = "holds"
main_pipe = "hold_all"

[pipe.hold_all]
type = "PipeBatch"
description = "Holds every item"
inputs = {{ items = "Text[]" }}
output = "Text[]"
branch_pipe_code = "hold_one"
input_list_name = "items"
input_item_name = "item"

[pipe.hold_one]
type = "PipeFunc"
description = "Holds one item until cancelled"
inputs = {{ item = "Text" }}
output = "Text"
function_name = "{MARKED}"
"""

BIG_BATCH = batch_bundle(SLOW, "big")

# A short run: three activities one after the other, each waiting for a slot behind whatever is queued.
SHORT_RUN = f"""domain = "short"
main_pipe = "three_steps"

[pipe.three_steps]
type = "PipeSequence"
description = "Three quick steps"
inputs = {{ text = "Text" }}
output = "Text"
steps = [
  {{ pipe = "one", result = "first" }},
  {{ pipe = "two", result = "second" }},
  {{ pipe = "three", result = "third" }},
]

[pipe.one]
type = "PipeFunc"
description = "Step one"
inputs = {{ text = "Text" }}
output = "Text"
function_name = "{QUICK}"

[pipe.two]
type = "PipeFunc"
description = "Step two"
inputs = {{ first = "Text" }}
output = "Text"
function_name = "{QUICK}"

[pipe.three]
type = "PipeFunc"
description = "Step three"
inputs = {{ second = "Text" }}
output = "Text"
function_name = "{QUICK}"
"""


async def slow_echo(inputs: Mapping[str, Stuff]) -> dict[str, Any]:
    await asyncio.sleep(SLOW_SECONDS)
    return {"text": f"{_text(inputs)}+"}


async def quick_echo(inputs: Mapping[str, Stuff]) -> dict[str, Any]:
    return {"text": f"{_text(inputs)}!"}


def _text(inputs: Mapping[str, Stuff]) -> str:
    return next(iter(inputs.values())).content.get("text", "")


for _name, _function in ((SLOW, slow_echo), (QUICK, quick_echo)):
    if DEFAULT_REGISTRY.get(_name) is None:
        pipe_function(_name)(_function)


def _tenant_key(tenant: str) -> str:
    return Caller(identity=tenant, mode=AuthMode.API_KEY).tenant_key


def _headers(tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TENANT_KEYS[tenant]}"}


BAD_PRIORITIES = [0, 6, -1, 100, "1", 2.5, True, [1], {"key": 1}]


@pytest.mark.parametrize("route", ["/v1/start", "/v1/execute"])
async def test_a_priority_out_of_range_or_not_an_integer_is_refused_naming_the_field(
    temporal_address: str, tmp_path: Path, route: str
) -> None:
    temporal = await connect_when_healthy(temporal_address)
    async with run_stack(temporal_address, tmp_path, worker=False) as stack:
        for value in BAD_PRIORITIES:
            run_id = f"bad-priority-{uuid.uuid4()}"
            response = await stack.client.post(route, json=greet_body(pipeline_run_id=run_id, priority=value))
            problem = assert_problem(response, 422, "request.invalid")
            assert problem["params"] == {"field": "priority"}, value
            assert problem["location"] == {"field": "priority"}, value
            await assert_never_started(stack, temporal, run_id)


async def _priorities(temporal: Client, tenant: str, run_id: str) -> list[tuple[int, str]]:
    """The priority key and fairness key Temporal holds for the run, its batch and its first chunk."""
    run = run_workflow_id(_tenant_key(tenant), run_id)
    batch = batch_workflow_id(run, batch_key("holds.hold_all"))
    found: list[tuple[int, str]] = []
    for workflow_id in (run, batch, chunk_workflow_id(batch, 0)):
        described = await temporal.get_workflow_handle(workflow_id).describe()
        priority = described.raw_description.workflow_execution_info.priority
        found.append((priority.priority_key, priority.fairness_key))
    return found


async def _backlog_by_priority(temporal: Client, task_queue: str, expected: dict[int, int]) -> dict[int, int]:
    """The activity tasks waiting on `task_queue`, by the priority key the server dispatches them with;
    read until it is `expected` (the server's figures lag a little)."""
    request = DescribeTaskQueueRequest(
        namespace=temporal.namespace,
        task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        report_stats=True,
    )
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        response = await temporal.workflow_service.describe_task_queue(request)
        backlog = {
            key: stats.approximate_backlog_count
            for key, stats in response.stats_by_priority_key.items()
            if stats.approximate_backlog_count
        }
        if backlog == expected or asyncio.get_running_loop().time() > deadline:
            return backlog
        await asyncio.sleep(0.2)


async def _held_batch(
    temporal_address: str, data_dir: Path, priority: int | None
) -> tuple[list[tuple[int, str]], dict[int, int]]:
    """A batch of four held items on a worker with one activity slot: one item runs, three wait in the
    queue. What Temporal holds for its workflows, and the waiting activities by priority key."""
    overrides = {"worker_max_concurrent_activities": 1, "pipe_activity_heartbeat_seconds": 1}
    temporal = await connect_when_healthy(temporal_address)
    async with run_stack(temporal_address, data_dir, api_overrides=AUTH, worker_overrides=overrides) as stack:
        files = {"holds.mthds": HOLDS}
        inputs: PipelineInputs = {"items": [f"hold-{index}" for index in range(4)]}
        if priority is None:  # the mthds client, sending no priority
            async with MthdsAPIClient(
                api_key=TENANT_KEYS[SMALL], base_url=stack.base_url, request_timeout_seconds=60
            ) as client:
                run_id = (await client.start(files=files, inputs=inputs)).pipeline_run_id
        else:  # pipelex-sdk, sending it as an extension member
            sdk = PipelexAPIClient(
                api_key=TENANT_KEYS[SMALL], base_url=stack.base_url, request_timeout_seconds=60
            )
            try:
                run_id = (
                    await sdk.start(files=files, inputs=inputs, extra={"priority": priority})
                ).pipeline_run_id
            finally:
                await sdk.close()
        try:
            backlog = await _backlog_by_priority(
                temporal, stack.task_queue, {priority or DEFAULT_PRIORITY: 3}
            )
            workflows = await _priorities(temporal, SMALL, run_id)
        finally:
            await stack.client.post(f"/v1/runs/{run_id}/cancel", headers=_headers(SMALL))
            await stack.wait_for_end(run_id, headers=_headers(SMALL))
    return workflows, backlog


async def test_priority_and_tenant_fairness_key_reach_child_workflows_and_activities(
    temporal_address: str, tmp_path: Path
) -> None:
    """The run's priority and its tenant (the fairness key) are the batch and chunk workflows' too (they
    set none of their own), and the chunk's activities wait at the run's priority. (That they carry the
    fairness key is what the starvation test below shows: without it they would be served in turn.)"""
    tenant_key = _tenant_key(SMALL)
    (workflows, backlog), (plain_workflows, plain_backlog) = await asyncio.gather(
        _held_batch(temporal_address, tmp_path / "two", 2),
        _held_batch(temporal_address, tmp_path / "unset", None),
    )
    assert workflows == [(2, tenant_key)] * 3
    assert backlog == {2: 3}
    # Priority key 0: unset, the server's default applies (and the activities wait at it).
    assert plain_workflows == [(0, tenant_key)] * 3
    assert plain_backlog == {DEFAULT_PRIORITY: 3}


async def _status(stack: RunStack, tenant: str, run_id: str) -> dict[str, Any]:
    return (await stack.client.get(f"/v1/runs/{run_id}/status", headers=_headers(tenant))).json()


async def _wait_for_busy_batch(stack: RunStack, run_id: str) -> None:
    """Until the big tenant's batch has items in flight, then a second more: both its chunks have queued
    their items, and keep the activity slots full."""
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        batch = (await _status(stack, BIG, run_id))["progress"]["batch"]
        if batch is not None and batch["running"] > 0:
            break
        assert asyncio.get_running_loop().time() < deadline, "the big batch never got going"
        await asyncio.sleep(0.1)
    await asyncio.sleep(1)


async def _timed_short_run(stack: RunStack, priority: int | None) -> float:
    """Seconds from the small tenant's `/v1/execute` to its answer (the run's end)."""
    body: dict[str, Any] = {"mthds_contents": [SHORT_RUN], "inputs": {"text": "hi"}}
    if priority is not None:
        body["priority"] = priority
    began = time.monotonic()
    response = await stack.client.post("/v1/execute", json=body, headers=_headers(SMALL), timeout=60)
    elapsed = time.monotonic() - began
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "COMPLETED"
    return elapsed


async def _short_runs_beside_a_big_batch(
    temporal_address: str, data_dir: Path, priorities: list[int | None]
) -> list[list[float]]:
    """While the big tenant's batch keeps every activity slot busy, the small tenant's short runs: three at
    once for each of `priorities`, in turn. Each list of times is checked to end before the batch does."""
    # Two slots, each item 50 ms: the batch's 64 items in flight (2 chunks of 32) wait 1.6 s to be served
    # first in, first out; 2000 items would take 50 s, and the batch is cancelled once measured.
    overrides = {"worker_max_concurrent_activities": 2, "pipe_activity_heartbeat_seconds": 1}
    measured: list[list[float]] = []
    async with run_stack(temporal_address, data_dir, api_overrides=AUTH, worker_overrides=overrides) as stack:
        big_id = f"big-batch-{uuid.uuid4()}"
        body = {"mthds_contents": [BIG_BATCH], "inputs": {"items": [f"item-{n}" for n in range(2000)]}}
        started = await stack.client.post(
            "/v1/start", json={**body, "pipeline_run_id": big_id}, headers=_headers(BIG)
        )
        assert started.status_code == 202, started.text
        try:
            await _wait_for_busy_batch(stack, big_id)
            for priority in priorities:
                times = await asyncio.gather(*(_timed_short_run(stack, priority) for _ in range(3)))
                measured.append(list(times))
                # The short runs ended while the batch still had most of its items to go.
                assert (await _status(stack, BIG, big_id))["state"] in ("STARTED", "RUNNING")
        finally:
            await stack.client.post(f"/v1/runs/{big_id}/cancel", headers=_headers(BIG))
            await stack.wait_for_end(big_id, headers=_headers(BIG))
    return measured


@pytest.mark.timeout(120)
async def test_a_big_batch_of_one_tenant_does_not_starve_another_tenants_short_runs(
    temporal_address: str, tmp_path: Path
) -> None:
    await connect_when_healthy(temporal_address)
    # With fairness (the session's dev server): the small tenant's tasks are served in turn with the big one's.
    [fair] = await _short_runs_beside_a_big_batch(temporal_address, tmp_path / "fair", [None])
    # Without (a dev server of its own, the same code): first in, first out within a priority.
    server = start_dev_server(port=free_port(), fairness=False)
    try:
        await connect_when_healthy(server.address)  # its port opens before its frontend is ready
        fifo, urgent = await _short_runs_beside_a_big_batch(server.address, tmp_path / "fifo", [None, 1])
    finally:
        server.stop()
    print(  # noqa: T201 -- the measurement the issue asks to report
        f"\nshort runs beside a 2000-item batch, 2 activity slots, seconds: fairness {_spread(fair)}; "
        f"first in first out {_spread(fifo)}; first in first out at priority 1 {_spread(urgent)}"
    )
    # Fairness: every short run is served far sooner than behind the batch's queued items.
    assert max(fair) * 2 < min(fifo), (fair, fifo)
    # Priority 1 passes the batch's tasks (priority 3) even without fairness.
    assert max(urgent) * 2 < min(fifo), (urgent, fifo)


def _spread(times: list[float]) -> str:
    return f"min {min(times):.2f} / max {max(times):.2f}"
