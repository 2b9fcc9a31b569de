"""The Temporal server killed (SIGKILL) and restarted on the same port while runs are started.

A private dev server keeps its runs in a SQLite file, so the restarted server has them. While it is down,
`/ready` and `/v1/start` answer 503 `runtime.unavailable` with `Retry-After`, and a start is refused by the
gateway's fast path (`params.unreachable_since`: no call waited on). Every start the API accepted, before,
during and after the outage, completes with its result: nothing accepted is lost.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.api_server import assert_problem
from tests.helpers.function_bundles import chain_bundle
from tests.helpers.run_functions import SLOW
from tests.helpers.run_stack import RunStack, run_stack
from tests.integration.test_client_restart import dev_server

STEPS = 3
BEFORE = 10
CHAIN = chain_bundle(SLOW, STEPS, "outage")


async def _start(http: httpx.AsyncClient, name: str) -> httpx.Response:
    return await http.post("/v1/start", json={"mthds_contents": [CHAIN], "inputs": {"name": name}})


async def _ready(stack: RunStack, *, within: float) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while (await stack.client.get("/ready")).status_code != 200:
        assert asyncio.get_running_loop().time() < deadline, "the API did not see Temporal back"
        await asyncio.sleep(0.1)


@pytest.mark.timeout(90)
async def test_accepted_runs_all_complete_across_a_temporal_kill_and_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLOW_SECONDS", "0.3")
    database = tmp_path / "temporal" / "runs.db"
    servers = [dev_server(database)]
    port = servers[0].port
    accepted: dict[str, str] = {}  # run id -> input name
    answers: list[int] = []
    try:
        async with run_stack(
            f"127.0.0.1:{port}", tmp_path, worker_overrides={"pipe_activity_timeout_seconds": 10}
        ) as stack:
            http = stack.client
            for index in range(BEFORE):
                response = await _start(http, f"before-{index}")
                assert response.status_code == 202, response.text
                accepted[response.json()["pipeline_run_id"]] = f"before-{index}"

            # Traffic that goes on across the kill and the restart: each start is accepted or refused.
            back = asyncio.Event()
            stop = asyncio.Event()

            async def traffic() -> None:
                index = 0
                while not stop.is_set():
                    response = await _start(http, f"during-{index}")
                    answers.append(response.status_code)
                    if response.status_code == 202:
                        accepted[response.json()["pipeline_run_id"]] = f"during-{index}"
                        if back.is_set():
                            stop.set()  # one start accepted after the restart is enough
                    else:
                        assert_problem(response, 503, "runtime.unavailable")
                    index += 1
                    await asyncio.sleep(0.05)

            sending = asyncio.create_task(traffic())
            await asyncio.sleep(0.2)
            servers[0].process.kill()
            servers[0].process.wait()

            ready = await http.get("/ready")
            problem = assert_problem(ready, 503, "runtime.unavailable")
            assert ready.headers["retry-after"] == "5"
            assert problem["params"]["component"] == "temporal"

            refused = await _start(http, "refused")
            problem = assert_problem(refused, 503, "runtime.unavailable")
            assert refused.headers["retry-after"] == "5"
            assert problem["retry_after"] == 5
            # The gateway's fast path answered: it knew Temporal was down, and since when.
            assert isinstance(problem["params"]["unreachable_since"], str)

            servers.append(await asyncio.to_thread(dev_server, database, port))
            await _ready(stack, within=30)
            back.set()
            after = await _start(http, "after")
            assert after.status_code == 202, after.text
            accepted[after.json()["pipeline_run_id"]] = "after"
            await asyncio.wait_for(sending, 30)  # it ends once a start of its own is accepted again

            assert set(answers) <= {202, 503}
            ends: list[dict[str, Any]] = await asyncio.gather(
                *(stack.wait_for_end(run_id, within=45) for run_id in accepted)
            )
            assert [end["state"] for end in ends] == ["COMPLETED"] * len(accepted)
            for run_id, name in accepted.items():
                results = await http.get(f"/v1/runs/{run_id}/results")
                assert results.status_code == 200, results.text
                assert results.json()["main_stuff"] == {"text": name + "+" * STEPS}
    finally:
        for server in servers:
            server.stop()
