"""Worker versioning on the dev server: a run begun on build `v1` ends on `v1` after `v2` is made current,
while new runs go to `v2`; no workflow task of a run is ever completed by the other build.
"""

from __future__ import annotations

import asyncio
import uuid
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from temporalio.api.workflowservice.v1 import SetWorkerDeploymentCurrentVersionRequest
from temporalio.client import Client
from temporalio.service import RPCError

from api.auth import SINGLE_TENANT
from shared.runs.names import run_workflow_id
from tests.helpers.run_functions import SLOW
from tests.helpers.run_stack import run_stack
from worker.runner import build_worker
from worker.settings import WorkerSettings, WorkerSettingsError
from worker.temporal_connection import connect
from worker.versioning import deployment_version

BUNDLE = f"""domain = "versioned"
main_pipe = "twice"

[pipe.echo]
type = "PipeFunc"
description = "A slow echo"
inputs = {{ name = "Text" }}
output = "Text"
function_name = "{SLOW}"

[pipe.twice]
type = "PipeSequence"
description = "Two slow echoes"
inputs = {{ name = "Text" }}
output = "Text"
steps = [{{ pipe = "echo", result = "name" }}, {{ pipe = "echo", result = "name" }}]
"""


async def make_current(temporal: Client, deployment: str, build_id: str, within: float = 30) -> None:
    """Set the deployment's current version, once the server has seen that version's pollers."""
    request = SetWorkerDeploymentCurrentVersionRequest(
        namespace=temporal.namespace, deployment_name=deployment, build_id=build_id, identity="test"
    )
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            await temporal.workflow_service.set_worker_deployment_current_version(request)
        except RPCError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)
        else:
            return


async def builds_that_ran(temporal: Client, run_id: str) -> set[str]:
    """The build ids that completed the run's workflow tasks."""
    builds: set[str] = set()
    handle = temporal.get_workflow_handle(run_workflow_id(SINGLE_TENANT, run_id))
    async for event in handle.fetch_history_events():
        if event.HasField("workflow_task_completed_event_attributes"):
            completed = event.workflow_task_completed_event_attributes
            builds.add(completed.deployment_version.build_id)
    return builds


async def begun_on(temporal: Client, run_id: str, build_id: str, within: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while (builds := await builds_that_ran(temporal, run_id)) != {build_id}:
        if asyncio.get_running_loop().time() > deadline:
            msg = f"run {run_id} ran its workflow tasks on {builds}, not {build_id}"
            raise AssertionError(msg)
        await asyncio.sleep(0.1)


@pytest.mark.timeout(120)
async def test_a_run_stays_on_the_build_it_started_on(
    temporal_address: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLOW_SECONDS", "2")  # each of the two steps: the old run outlives the switch
    deployment = f"methodflow-{uuid.uuid4().hex[:8]}"
    temporal = await connect(temporal_address)

    def settings(build_id: str) -> WorkerSettings:
        return WorkerSettings(
            data_dir=tmp_path / "data", worker_deployment_name=deployment, worker_build_id=build_id
        )

    async with (
        run_stack(temporal_address, tmp_path / "data", worker=False) as stack,
        AsyncExitStack() as workers,
    ):
        await workers.enter_async_context(build_worker(temporal, settings("v1"), task_queue=stack.task_queue))
        await make_current(temporal, deployment, "v1")
        old = await stack.client.post(
            "/v1/start",
            json={"mthds_contents": [BUNDLE], "inputs": {"name": "old"}, "pipeline_run_id": "old"},
        )
        assert old.status_code == 202, old.text
        await begun_on(temporal, "old", "v1")

        await workers.enter_async_context(build_worker(temporal, settings("v2"), task_queue=stack.task_queue))
        await make_current(temporal, deployment, "v2")
        new = await stack.client.post(
            "/v1/start",
            json={"mthds_contents": [BUNDLE], "inputs": {"name": "new"}, "pipeline_run_id": "new"},
        )
        assert new.status_code == 202, new.text
        # The old run is still in its slow steps when v2 becomes current: its next tasks could go to v2.
        assert (await stack.client.get("/v1/runs/old/status")).json()["state"] == "RUNNING"

        for run_id in ("old", "new"):
            ended = await stack.wait_for_end(run_id, within=60)
            assert ended["state"] == "COMPLETED", ended
        assert await builds_that_ran(temporal, "old") == {"v1"}
        assert await builds_that_ran(temporal, "new") == {"v2"}


def test_versioning_is_both_settings_or_neither() -> None:
    assert deployment_version(WorkerSettings()) is None
    version = deployment_version(WorkerSettings(worker_deployment_name="mf", worker_build_id="2026.12.03"))
    assert version is not None
    assert (version.deployment_name, version.build_id) == ("mf", "2026.12.03")
    with pytest.raises(WorkerSettingsError, match="set together or not at all"):
        deployment_version(WorkerSettings(worker_deployment_name="mf"))
    with pytest.raises(WorkerSettingsError, match="set together or not at all"):
        deployment_version(WorkerSettings(worker_build_id="b1"))
