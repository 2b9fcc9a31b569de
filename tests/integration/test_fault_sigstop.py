"""A worker frozen with SIGSTOP mid-activity (issue 18, "Hardening"): it stays connected but stops
heartbeating, so Temporal times its attempt out after `PIPE_ACTIVITY_HEARTBEAT_SECONDS` and hands the
activity to the other worker, which finishes it; the run completes.

Two real worker processes (`python -m worker`) share the queue; the one running the step is found from
Temporal (the pending activity's worker identity is `<pid>@<host>`), frozen, and killed at the end.
The step records `(text, attempt)` when its body completes: attempt 1 never does.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.client import Client

from api.auth import SINGLE_TENANT
from shared.runs.names import run_workflow_id
from tests.helpers.function_bundles import chain_bundle
from tests.helpers.run_functions import COUNTED, read_counted
from tests.helpers.run_stack import run_stack
from tests.helpers.worker_process import WorkerProcess, worker_environment, worker_processes
from worker.temporal_connection import connect

RUN_ID = "run-sigstop"
HEARTBEAT_SECONDS = 2


async def running_on(temporal: Client, workflow_id: str, within: float = 30) -> str:
    """The identity of the worker running the run's pending step, once one has started it."""
    handle = temporal.get_workflow_handle(workflow_id)
    deadline = asyncio.get_running_loop().time() + within
    while True:
        pending = (await handle.describe()).raw_description.pending_activities
        started = [activity.last_worker_identity for activity in pending if activity.last_worker_identity]
        if started:
            return started[0]
        if asyncio.get_running_loop().time() > deadline:
            msg = f"no worker started the step within {within} s: {pending}"
            raise AssertionError(msg)
        await asyncio.sleep(0.05)


def identity_of(worker: WorkerProcess) -> str:
    return str(worker.process.pid)


async def test_a_frozen_worker_loses_its_activity_to_another(temporal_address: str, tmp_path: Path) -> None:
    counter = tmp_path / "counter.txt"
    async with run_stack(temporal_address, tmp_path, worker=False) as stack:
        env = worker_environment(
            temporal_address,
            stack.task_queue,
            tmp_path,
            FUNCTION_MODULES="tests.helpers.run_functions",
            SLOW_SECONDS="4",  # the step outlasts the heartbeat timeout twice over
            COUNTER_FILE=str(counter),
            PIPE_ACTIVITY_HEARTBEAT_SECONDS=str(HEARTBEAT_SECONDS),
            PIPE_ACTIVITY_INITIAL_INTERVAL_SECONDS="0.2",
            PIPE_ACTIVITY_MAX_INTERVAL_SECONDS="1",
            # One activity at a time: a worker busy with the step holds no activity poll open, so
            # the frozen one cannot be handed the retry it is meant to lose. (With free slots, its
            # open polls still take tasks, frozen: each swallows an attempt until it times out.)
            WORKER_MAX_CONCURRENT_ACTIVITIES="1",
            # A workflow cached by the frozen worker moves to the other one after 1 s.
            WORKER_STICKY_TIMEOUT_SECONDS="1",
        )
        with worker_processes(env, tmp_path) as workers:
            both = [workers.start(), workers.start()]
            await asyncio.gather(*(worker.wait_polling() for worker in both))
            answer = await stack.client.post(
                "/v1/start",
                json={
                    "mthds_contents": [chain_bundle(COUNTED, 1, "sigstop")],
                    "inputs": {"name": "frozen"},
                    "pipeline_run_id": RUN_ID,
                },
            )
            assert answer.status_code == 202, answer.text
            temporal = await connect(temporal_address)
            workflow_id = run_workflow_id(SINGLE_TENANT, RUN_ID)
            first_identity = await running_on(temporal, workflow_id)
            frozen = next(w for w in both if first_identity.startswith(f"{identity_of(w)}@"))
            other = next(w for w in both if w is not frozen)
            frozen.process.send_signal(signal.SIGSTOP)
            try:
                final = await stack.wait_for_end(RUN_ID, within=60)
                assert final["state"] == "COMPLETED", (await stack.client.get(f"/v1/runs/{RUN_ID}")).text
                results = await stack.client.get(f"/v1/runs/{RUN_ID}/results")
                assert results.json()["main_stuff"] == {"text": "frozen+"}
                assert frozen.process.poll() is None, "frozen, not dead: only its heartbeats stopped"
            finally:
                frozen.kill()  # SIGKILL ends a stopped process too; the block kills the other one

            # The step's completion in the history: attempt 2, on the other worker, after a heartbeat
            # timeout of attempt 1.
            history = await temporal.get_workflow_handle(workflow_id).fetch_history()
            started = [
                event.activity_task_started_event_attributes
                for event in history.events
                if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
            ]
            step = [attributes for attributes in started if attributes.attempt > 1]
            assert len(step) == 1, started
            assert step[0].attempt == 2
            assert step[0].identity.startswith(f"{identity_of(other)}@"), (step[0].identity, first_identity)
            assert (
                step[0].last_failure.timeout_failure_info.timeout_type == TimeoutType.TIMEOUT_TYPE_HEARTBEAT
            )
            # Attempt 1's body never completed (its worker was frozen, then killed); attempt 2's did.
            assert read_counted(counter) == [("frozen", 2)]
