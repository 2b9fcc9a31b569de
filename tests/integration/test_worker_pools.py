"""Worker pools for real: operator kinds routed to their pools' task queues by `TASK_QUEUE_ROUTES`, each
pool a worker of its own on the dev server, a run waiting for the pool its step needs; and a model's
rate enforced by Temporal across three worker processes, as the fake provider sees it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from temporalio.client import Client

from api.auth import SINGLE_TENANT
from shared.runs.names import RUN_OPERATOR_ACTIVITY, run_workflow_id
from tests.helpers.model_servers.model_server import ModelServer
from tests.helpers.model_servers.serving import serving
from tests.helpers.run_functions import SLOW
from tests.helpers.run_stack import RunStack, run_stack
from tests.helpers.worker_process import worker_environment, worker_processes
from worker.dev_server import free_port
from worker.runner import WorkerGroup, build_worker
from worker.settings import WorkerSettings
from worker.temporal_connection import connect

KEY = "sk-test-pools"
ROUTES = "llm=llm,func=cpu"
DECK = """
[models.pool-llm]
type = "llm"
provider = "openai"
model = "pool-model"

[aliases.llm]
default-general = "pool-llm"
"""

BUNDLE = f"""domain = "pools"
main_pipe = "both"

[pipe.echo]
type = "PipeFunc"
description = "A function step"
inputs = {{ name = "Text" }}
output = "Text"
function_name = "{SLOW}"

[pipe.greet]
type = "PipeLLM"
description = "A model step"
inputs = {{ echoed = "Text" }}
output = "Text"
prompt = "Say hello to {{{{ echoed }}}}."

[pipe.both]
type = "PipeSequence"
description = "A function, then a model"
inputs = {{ name = "Text" }}
output = "Text"
steps = [{{ pipe = "echo", result = "echoed" }}, {{ pipe = "greet", result = "greeting" }}]
"""


def pool_settings(tmp_path: Path, server: ModelServer, **overrides: Any) -> WorkerSettings:
    deck = tmp_path / "deck.toml"
    deck.write_text(DECK, encoding="utf-8")
    return WorkerSettings(
        data_dir=tmp_path / "data",
        model_deck=deck,
        openai_base_url=server.base_url,
        openai_api_key=SecretStr(KEY),
        task_queue_routes=ROUTES,
        **overrides,
    )


async def operator_queues(temporal: Client, run_id: str) -> list[str]:
    """The task queue of each operator activity the run scheduled, in order."""
    queues: list[str] = []
    handle = temporal.get_workflow_handle(run_workflow_id(SINGLE_TENANT, run_id))
    async for event in handle.fetch_history_events():
        if event.HasField("activity_task_scheduled_event_attributes"):
            scheduled = event.activity_task_scheduled_event_attributes
            if scheduled.activity_type.name == RUN_OPERATOR_ACTIVITY:
                queues.append(scheduled.task_queue.name)
    return queues


async def start_pool(
    stack: AsyncExitStack, temporal: Client, settings: WorkerSettings, queue: str, pool: str
) -> WorkerGroup:
    return await stack.enter_async_context(build_worker(temporal, settings, task_queue=queue, pool=pool))


@pytest.fixture
async def llm_server() -> AsyncIterator[ModelServer]:
    server = ModelServer("openai", api_key=KEY)
    async with serving(server):
        yield server


async def test_each_kind_runs_on_its_pools_queue_and_waits_for_that_pool(
    temporal_address: str, tmp_path: Path, llm_server: ModelServer
) -> None:
    settings = pool_settings(tmp_path, llm_server)
    temporal = await connect(temporal_address)
    async with (
        run_stack(temporal_address, tmp_path / "data", worker=False) as stack,
        AsyncExitStack() as pools,
    ):
        main = await start_pool(pools, temporal, settings, stack.task_queue, "main")
        llm = await start_pool(pools, temporal, settings, stack.task_queue, "llm")
        assert main.queues == (stack.task_queue,)
        assert llm.queues == (f"{stack.task_queue}-llm",)

        started = await stack.client.post(
            "/v1/start",
            json={"mthds_contents": [BUNDLE], "inputs": {"name": "Ada"}, "pipeline_run_id": "pools-1"},
        )
        assert started.status_code == 202, started.text
        # No worker polls the `cpu` pool: the function step waits on its queue, the run does not end.
        await wait_for_queues(temporal, "pools-1", [f"{stack.task_queue}-cpu"])
        await asyncio.sleep(1)
        status = (await stack.client.get("/v1/runs/pools-1/status")).json()
        assert status["state"] == "RUNNING", status
        assert llm_server.requests() == []

        cpu = await start_pool(pools, temporal, settings, stack.task_queue, "cpu")
        assert cpu.queues == (f"{stack.task_queue}-cpu",)
        ended = await stack.wait_for_end("pools-1", within=60)
        assert ended["state"] == "COMPLETED", ended
        assert await operator_queues(temporal, "pools-1") == [
            f"{stack.task_queue}-cpu",
            f"{stack.task_queue}-llm",
        ]
        assert len(llm_server.requests("/v1/chat/completions")) == 1


async def wait_for_queues(temporal: Client, run_id: str, expected: list[str], within: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while (queues := await operator_queues(temporal, run_id)) != expected:
        if asyncio.get_running_loop().time() > deadline:
            msg = f"run {run_id} scheduled its operators on {queues}, not {expected}"
            raise AssertionError(msg)
        await asyncio.sleep(0.1)


RATED_DECK = """
[models.paced-llm]
type = "llm"
provider = "openai"
model = "paced-model"

[models.paced-llm.rate]
calls_per_second = 20

[models.free-llm]
type = "llm"
provider = "openai"
model = "free-model"
"""
ITEMS = 120


def batch_bundle(model: str) -> str:
    return f"""domain = "paced"
main_pipe = "all_greetings"

[pipe.greet]
type = "PipeLLM"
description = "Greets one name"
inputs = {{ name = "Text" }}
output = "Text"
model = "{model}"
prompt = "Say hello to {{{{ name }}}}."

[pipe.all_greetings]
type = "PipeBatch"
description = "Greets every name"
inputs = {{ names = "Text[]" }}
output = "Text[]"
branch_pipe_code = "greet"
input_list_name = "names"
input_item_name = "name"
"""


def busiest_second(times: list[float]) -> int:
    """The most requests that arrived within any one second."""
    ordered = sorted(times)
    end = 0
    most = 0
    for start, at in enumerate(ordered):
        while end < len(ordered) and ordered[end] < at + 1.0:
            end += 1
        most = max(most, end - start)
    return most


async def run_batch(stack: RunStack, server: ModelServer, model: str) -> list[float]:
    """Runs the batch of `ITEMS` greetings with `model`; the arrival times of its model calls."""
    before = len(server.requests())
    names = [f"name-{index}" for index in range(ITEMS)]
    answer = await stack.client.post(
        "/v1/execute",
        json={"mthds_contents": [batch_bundle(model)], "inputs": {"names": names}},
        timeout=120,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "COMPLETED", answer.text
    calls = server.requests("/v1/chat/completions")[before:]
    assert {call.body["model"] for call in calls} == {model.replace("-llm", "-model")}
    return [call.at for call in calls]


@pytest.mark.timeout(180)
async def test_a_model_rate_holds_across_three_worker_processes(
    temporal_address: str, tmp_path: Path, llm_server: ModelServer
) -> None:
    deck = tmp_path / "deck.toml"
    deck.write_text(RATED_DECK, encoding="utf-8")
    async with run_stack(
        temporal_address, tmp_path / "data", worker=False, api_overrides={"model_deck": deck}
    ) as stack:
        env = worker_environment(
            temporal_address,
            stack.task_queue,
            tmp_path / "data",
            MODEL_DECK=str(deck),
            OPENAI_BASE_URL=llm_server.base_url,
            OPENAI_API_KEY=KEY,
        )
        with worker_processes(env, tmp_path) as workers:
            started = [workers.start() for _ in range(3)]
            for worker in started:
                await worker.wait_polling()
            assert all(f"{stack.task_queue}-rate-model-paced-llm" in worker.log() for worker in started)

            free = await run_batch(stack, llm_server, "free-llm")
            paced = await run_batch(stack, llm_server, "paced-llm")
    first = min(paced)
    after_first_second = [at for at in paced if at >= first + 1.0]
    measured = (
        f"{ITEMS} calls: unlimited model {busiest_second(free)} in its busiest second "
        f"({max(free) - min(free):.1f} s in all); limited to 20/s: {busiest_second(paced)} in the "
        f"busiest second, {busiest_second(after_first_second)} after the first second "
        f"({max(paced) - first:.1f} s in all)"
    )
    # The control shows the measure can see a storm: three workers call far faster than 20 a second.
    assert busiest_second(free) > 30, measured
    # Temporal paces the queue with a token bucket that starts full: the first second may see one bucket
    # (20) on top of the rate; later seconds see the rate. Over a provider's per-minute window that is at
    # most one second's calls more (docs/design/worker-pools.md).
    # The sustained rate: the whole batch cannot come faster than the rate after one bucket (the last
    # assertion). What the provider sees in one second is the dispatches plus delivery jitter: a worker starved of
    # CPU for a moment (CI machines are shared) delivers one second's dispatches on top of the next's.
    assert busiest_second(after_first_second) <= 2 * 20, measured
    assert busiest_second(paced) <= 2 * 20 + 4, measured
    assert max(paced) - first >= (ITEMS - 2 * 20) / 20, measured


async def ready_report(url: str) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.get(url)
    return answer.status_code, answer.json()


async def wait_for_report(url: str, expected: list[str], within: float = 30) -> dict[str, Any]:
    """The `/ready` report once it names `expected` as the unpolled queues."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        status, report = await ready_report(url)
        if status == 200 and report["unpolled_task_queues"] == expected:
            return report
        if asyncio.get_running_loop().time() > deadline:
            msg = f"{url} answered {status} {report}, not the unpolled queues {expected}"
            raise AssertionError(msg)
        await asyncio.sleep(0.5)


@pytest.mark.timeout(120)
async def test_ready_names_the_routed_queues_no_pool_polls(temporal_address: str, tmp_path: Path) -> None:
    async with run_stack(
        temporal_address, tmp_path / "data", worker=False, api_overrides={"task_queue_routes": ROUTES}
    ) as stack:
        queue = stack.task_queue
        # Nothing polls yet: the API still accepts runs, and says which queues wait for a worker.
        status, report = await ready_report(f"{stack.base_url}/ready")
        assert status == 200, report
        assert report["unpolled_task_queues"] == [queue, f"{queue}-cpu", f"{queue}-llm", f"{queue}-callbacks"]

        port = free_port()
        env = worker_environment(
            temporal_address,
            queue,
            tmp_path / "data",
            TASK_QUEUE_ROUTES=ROUTES,
            WORKER_POOL="main",
            WORKER_HEALTH_PORT=str(port),
        )
        with worker_processes(env, tmp_path) as workers:
            main = workers.start()
            await main.wait_polling()
            worker_report = await wait_for_report(
                f"http://127.0.0.1:{port}/ready", [f"{queue}-cpu", f"{queue}-llm", f"{queue}-callbacks"]
            )
            assert worker_report["pool"] == "main"
            assert worker_report["task_queues"] == [queue]
            assert (await ready_report(f"http://127.0.0.1:{port}/healthz"))[0] == 200

            workers.env["WORKER_POOL"] = "llm"
            workers.env["WORKER_HEALTH_PORT"] = str(free_port())
            await workers.start().wait_polling()
            await wait_for_report(f"{stack.base_url}/ready", [f"{queue}-cpu", f"{queue}-callbacks"])
