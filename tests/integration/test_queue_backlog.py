"""The autoscaling signal (issue 15): the backlog KEDA's Temporal scaler reads (DescribeTaskQueue with stats,
`worker/queue_backlog.py`) grows with runs no worker takes and drains when the pool's workers run.

Runs start through the API (real HTTP) with `TASK_QUEUE_ROUTES=func=func`: with no worker, each run waits
as a workflow task on the main queue; with only the `main` pool running, each run's PipeFunc step waits as
an activity task on the `func` pool's queue (what that pool's ScaledObject watches); with the `func` pool
running too, everything drains and the runs complete. The server caches the statistics for a few seconds
(`matching.TaskQueueInfoByBuildIdTTL`, 5 s), so each expectation is polled for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from temporalio.client import Client

from shared.runs.task_routes import pool_queue
from tests.helpers.run_functions import SLOW
from tests.helpers.run_stack import run_stack
from worker.queue_backlog import QueueType, backlog_by_type, queue_backlog
from worker.runner import build_worker
from worker.settings import WorkerSettings
from worker.temporal_connection import connect

RUNS = 5
ROUTES = "func=func"
NO_BACKLOG: dict[QueueType, int] = {"activity": 0, "workflow": 0, "nexus": 0}
BUNDLE = f"""domain = "backlog"
main_pipe = "echo"

[pipe.echo]
type = "PipeFunc"
description = "Slow echo"
inputs = {{ name = "Text" }}
output = "Text"
function_name = "{SLOW}"
"""
Backlogs = dict[str, dict[QueueType, int]]


async def backlogs_reach(
    client: Client, queues: list[str], expected: Callable[[Backlogs], bool], *, within: float = 30
) -> Backlogs:
    """Poll the queues' backlogs until `expected` holds; fail with what was last seen. No count ever
    exceeds `RUNS`: each run waits on one task at most."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        seen = {queue: await backlog_by_type(client, queue) for queue in queues}
        over = [(queue, kind) for queue in queues for kind, count in seen[queue].items() if count > RUNS]
        assert not over, seen
        if expected(seen):
            return seen
        if asyncio.get_running_loop().time() > deadline:
            msg = f"the backlogs did not reach what was expected within {within} s: {seen}"
            raise AssertionError(msg)
        await asyncio.sleep(0.5)


async def test_backlog_grows_without_workers_and_drains_with_them(
    temporal_address: str, tmp_path: Path
) -> None:
    names = [f"backlog-{index}" for index in range(RUNS)]
    api = {"task_queue_routes": ROUTES}
    async with run_stack(temporal_address, tmp_path, worker=False, api_overrides=api) as stack:
        main, func = stack.task_queue, pool_queue(stack.task_queue, "func")
        client = await connect(temporal_address)
        # A queue nobody used yet: no backlog of any type.
        assert await backlog_by_type(client, main) == NO_BACKLOG
        assert await backlog_by_type(client, func) == NO_BACKLOG

        started = await asyncio.gather(
            *(
                stack.client.post(
                    "/v1/start",
                    json={"mthds_contents": [BUNDLE], "inputs": {"name": name}, "pipeline_run_id": name},
                )
                for name in names
            )
        )
        assert [answer.status_code for answer in started] == [202] * RUNS, [a.text for a in started]

        # No worker: each run waits as one workflow task on the main queue.
        await backlogs_reach(
            client,
            [main, func],
            lambda seen: seen == {main: {**NO_BACKLOG, "workflow": RUNS}, func: NO_BACKLOG},
        )

        settings = WorkerSettings(data_dir=tmp_path, task_queue_routes=ROUTES)
        async with build_worker(client, settings, task_queue=main, pool="main"):
            # The main pool runs the workflows; their PipeFunc steps wait on the func pool's queue.
            await backlogs_reach(
                client,
                [main, func],
                lambda seen: seen == {main: NO_BACKLOG, func: {**NO_BACKLOG, "activity": RUNS}},
            )
            statuses = [(await stack.client.get(f"/v1/runs/{name}/status")).json() for name in names]
            assert {status["state"] for status in statuses} == {"RUNNING"}, statuses

            async with build_worker(client, settings, task_queue=main, pool="func"):
                for name in names:
                    final = await stack.wait_for_end(name, within=60)
                    assert final["state"] == "COMPLETED", final
                    results = await stack.client.get(f"/v1/runs/{name}/results")
                    assert results.json()["main_stuff"] == {"text": f"{name}+"}, results.text
                # Drained: the sum KEDA scales on is 0 for both pools' queues.
                await backlogs_reach(
                    client, [main, func], lambda seen: seen == {main: NO_BACKLOG, func: NO_BACKLOG}
                )
                assert await queue_backlog(client, main) == 0
                assert await queue_backlog(client, func) == 0
