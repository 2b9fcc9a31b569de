"""Prometheus metrics after real runs: the API's `/metrics` and the worker's metrics port, scraped before and
after runs started over HTTP and run by a real worker on the Temporal dev server, with a loopback model
server and callback receiver. Every counter must move by exactly what the runs did.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client

from api.auth import AuthMode, Caller
from api.main import create_app
from api.settings import ApiSettings
from shared.runs.names import run_workflow_id
from tests.helpers.api_server import asgi_client, assert_problem
from tests.helpers.batch_functions import MARKED
from tests.helpers.callback_receiver import CallbackReceiver
from tests.helpers.callback_receiver import serving as serving_receiver
from tests.helpers.model_servers.model_server import ModelServer
from tests.helpers.model_servers.serving import serving as serving_model
from tests.helpers.run_functions import FAILING
from worker.dev_server import free_port
from worker.metrics import WorkerMetricsServer, serve_worker_metrics
from worker.runner import build_worker
from worker.settings import WorkerSettings
from worker.temporal_connection import connect

KEY = "sk-test-metrics"
SECRET = "metrics-secret"  # noqa: S105 -- a callback signing secret for the test receiver only
DECK = """
[models.metrics-llm]
type = "llm"
provider = "openai"
model = "metrics-model"
costs = { input = 2.0, output = 8.0 }

[aliases.llm]
default-general = "metrics-llm"
"""
BUNDLE = f"""domain = "metered"

[pipe.greet]
type = "PipeLLM"
description = "Greets"
inputs = {{ name = "Text" }}
output = "Text"
model = "metrics-llm"
prompt = "Say hello to {{{{ name }}}} in a few words."

[pipe.check]
type = "PipeFunc"
description = "Checks the greeting"
inputs = {{ greeting = "Text" }}
output = "Text"
function_name = "{MARKED}"

[pipe.flow]
type = "PipeSequence"
description = "Greets, then checks"
inputs = {{ name = "Text" }}
output = "Text"
steps = [{{ pipe = "greet", result = "greeting" }}, {{ pipe = "check", result = "checked" }}]

[pipe.broken]
type = "PipeFunc"
description = "Always fails"
inputs = {{ name = "Text" }}
output = "Text"
function_name = "{FAILING}"

[pipe.check_all]
type = "PipeBatch"
description = "Checks every item"
inputs = {{ items = "Text[]" }}
output = "Text[]"
branch_pipe_code = "check_item"
input_list_name = "items"
input_item_name = "item"

[pipe.check_item]
type = "PipeFunc"
description = "Checks one item"
inputs = {{ item = "Text" }}
output = "Text"
function_name = "{MARKED}"
"""

HELLO = """domain = "hello"
main_pipe = "hello"

[pipe.hello]
type = "PipeCompose"
description = "Greets"
inputs = { name = "Text" }
output = "Text"
template = "Hello, {{ name }}!"
"""


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of the samples `name` whose labels include `labels` (0 when there is none)."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(key) == value for key, value in labels.items())
    )


@dataclass
class ObservedStack:
    task_queue: str
    api: httpx.AsyncClient
    worker_metrics: WorkerMetricsServer | None

    async def scrape_api(self) -> str:
        answer = await self.api.get("/metrics")
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        return answer.text

    async def scrape_worker(self) -> str:
        assert self.worker_metrics is not None
        async with httpx.AsyncClient(trust_env=False) as http:
            answer = await http.get(f"http://127.0.0.1:{self.worker_metrics.port}/metrics")
        assert answer.status_code == 200, answer.text
        return answer.text

    async def wait_for_end(self, run_id: str, headers: dict[str, str] | None = None) -> str:
        deadline = asyncio.get_running_loop().time() + 60
        while True:
            state = (await self.api.get(f"/v1/runs/{run_id}/status", headers=headers)).json().get("state")
            if state in ("COMPLETED", "FAILED", "CANCELLED"):
                return str(state)
            assert asyncio.get_running_loop().time() < deadline, f"run {run_id} did not end: {state}"
            await asyncio.sleep(0.1)


@asynccontextmanager
async def observed_stack(
    temporal_address: str, data_dir: Path, *, api: dict[str, Any], worker: dict[str, Any] | None
) -> AsyncGenerator[ObservedStack]:
    """The API on uvicorn and, unless `worker` is None, a worker whose client has a metrics runtime, its
    metrics served on a free loopback port, on a fresh task queue."""
    task_queue = f"test-{uuid.uuid4()}"
    settings = ApiSettings(
        temporal_address=temporal_address, temporal_task_queue=task_queue, data_dir=data_dir, **api
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 -- uvicorn offers a flag, not an event
        await asyncio.sleep(0.01)
    async with AsyncExitStack() as stack:
        metrics = None
        if worker is not None:
            worker_settings = WorkerSettings(data_dir=data_dir, worker_metrics_port=free_port(), **worker)
            metrics = await serve_worker_metrics(worker_settings, host="127.0.0.1")
            assert metrics is not None
            stack.push_async_callback(metrics.close)
            client = await connect(temporal_address, runtime=metrics.runtime)
            await stack.enter_async_context(build_worker(client, worker_settings, task_queue=task_queue))
        http = await stack.enter_async_context(
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30, trust_env=False)
        )
        try:
            yield ObservedStack(task_queue, http, metrics)
        finally:
            server.should_exit = True
            await serving


async def eventually(check: Callable[[], Awaitable[bool]], what: str, within: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"{what} did not happen within {within} s"
        await asyncio.sleep(0.2)


def tokens_by_model(usages: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    totals: dict[tuple[str, str], int] = {}
    for usage in usages:
        for category, count in usage["nb_tokens_by_category"].items():
            key = (usage["inference_model_name"], category)
            totals[key] = totals.get(key, 0) + count
    return totals


@pytest.mark.timeout(150)
async def test_a_few_runs_move_every_counter_by_what_they_did(temporal_address: str, tmp_path: Path) -> None:
    deck = tmp_path / "deck.toml"
    deck.write_text(DECK, encoding="utf-8")
    model = ModelServer("openai", api_key=KEY, answer="Hello there, Ada!")
    receiver = CallbackReceiver([200])
    api = {
        "model_deck": deck,
        "completion_callback_secret": SECRET,
        "allow_private_callback_urls": True,
    }
    worker = {
        "model_deck": deck,
        "openai_base_url": model.base_url,
        "openai_api_key": KEY,
        "completion_callback_secret": SECRET,
        "allow_private_callback_urls": True,
        "pipe_activity_max_attempts": 1,  # one attempt per failing pipe: the failures count once
    }
    async with (
        serving_model(model),
        serving_receiver(receiver),
        observed_stack(temporal_address, tmp_path / "data", api=api, worker=worker) as stack,
    ):
        api_before, worker_before = await stack.scrape_api(), await stack.scrape_worker()
        starts: dict[str, dict[str, Any]] = {
            "flow-1": {"pipe_code": "flow", "inputs": {"name": "Ada"}, "callback_urls": [receiver.url]},
            "flow-2": {"pipe_code": "flow", "inputs": {"name": "Bob"}},
            "flow-3": {"pipe_code": "flow", "inputs": {"name": "Cy"}},
            "broken-1": {"pipe_code": "broken", "inputs": {"name": "Dee"}},
            # A batch whose branch needs activities runs as a batch workflow: 2 items done, 1 failed.
            "batch-1": {
                "pipe_code": "check_all",
                "inputs": {"items": ["a", "bad-b", "c"]},
                "batch_failures": "collect",
            },
        }
        for run_id, body in starts.items():
            body = {"mthds_contents": [BUNDLE], "pipeline_run_id": run_id, **body}
            started = await stack.api.post("/v1/start", json=body)
            assert started.status_code == 202, started.text
        states = {run_id: await stack.wait_for_end(run_id) for run_id in starts}
        assert states == {
            "flow-1": "COMPLETED",
            "flow-2": "COMPLETED",
            "flow-3": "COMPLETED",
            "broken-1": "FAILED",
            "batch-1": "COMPLETED",
        }
        usages: list[dict[str, Any]] = []
        for run_id in ("flow-1", "flow-2", "flow-3"):
            results = await stack.api.get(f"/v1/runs/{run_id}/results")
            assert results.status_code == 200, results.text
            usages += results.json()["tokens_usages"]

        async def delivered() -> bool:
            return metric(await stack.scrape_worker(), "methodflow_callback_attempts_total") > metric(
                worker_before, "methodflow_callback_attempts_total"
            )

        await eventually(delivered, "the callback delivery")

        async def all_ends_counted() -> bool:
            text = await stack.scrape_api()
            return metric(text, "methodflow_runs_finished_total") - metric(
                api_before, "methodflow_runs_finished_total"
            ) >= len(starts)

        # The ended runs are read from visibility, refreshed every few seconds.
        await eventually(all_ends_counted, "the runs' ends in the counts")
        api_after, worker_after = await stack.scrape_api(), await stack.scrape_worker()

    def api_delta(name: str, **labels: str) -> float:
        return metric(api_after, name, **labels) - metric(api_before, name, **labels)

    def worker_delta(name: str, **labels: str) -> float:
        return metric(worker_after, name, **labels) - metric(worker_before, name, **labels)

    # The API: requests by route template (never the raw path), runs started and ended.
    start = {"route": "/v1/start", "method": "POST"}
    assert api_delta("methodflow_http_requests_total", **start, status="202") == 5
    assert api_delta("methodflow_http_requests_total", **start) == 5
    assert api_delta("methodflow_http_request_duration_seconds_count", route="/v1/start") == 5
    status_route = "/v1/runs/{run_id}/status"
    assert api_delta("methodflow_http_requests_total", route=status_route, status="200") >= 5
    assert "flow-1" not in api_after, "a run id in a label: raw paths are unbounded"
    assert api_delta("methodflow_runs_started_total", route="/v1/start") == 5
    assert api_delta("methodflow_runs_started_total") == 5
    assert api_delta("methodflow_runs_finished_total", state="COMPLETED") == 4
    assert api_delta("methodflow_runs_finished_total", state="FAILED") == 1
    assert api_delta("methodflow_runs_finished_total", state="CANCELLED") == 0
    assert metric(api_after, "methodflow_runs_running") == 0
    assert api_delta("methodflow_http_too_many_requests_total") == 0

    # The worker: operator activities by pipe type and outcome, with their durations.
    operator = {"activity": "run_operator"}
    assert (
        worker_delta("methodflow_activities_total", **operator, pipe_type="PipeLLM", outcome="completed") == 3
    )
    assert worker_delta("methodflow_activities_total", **operator, pipe_type="PipeLLM", outcome="failed") == 0
    # 3 checks of the flows and 2 good batch items; the broken pipe and the bad item fail once each.
    assert (
        worker_delta("methodflow_activities_total", **operator, pipe_type="PipeFunc", outcome="completed")
        == 5
    )
    assert (
        worker_delta("methodflow_activities_total", **operator, pipe_type="PipeFunc", outcome="failed") == 2
    )
    assert worker_delta("methodflow_activity_duration_seconds_count", **operator, pipe_type="PipeLLM") == 3
    assert worker_delta("methodflow_activity_duration_seconds_count", **operator, pipe_type="PipeFunc") == 7

    # Model calls, tokens and cost by model: what the runs' usage records say.
    assert len(usages) == 3
    for (model_name, category), count in tokens_by_model(usages).items():
        assert worker_delta("methodflow_model_tokens_total", model=model_name, category=category) == count
    assert worker_delta("methodflow_model_tokens_total") == sum(tokens_by_model(usages).values()) > 0
    assert worker_delta("methodflow_model_calls_total", model="metrics-llm") == 3
    cost = sum(usage["cost"] for usage in usages)
    assert cost > 0
    assert worker_delta("methodflow_model_cost_usd_total", model="metrics-llm") == pytest.approx(cost)

    # One delivery for the one run with a callback URL; batch items of the batch workflow.
    assert receiver.answered(200)
    assert worker_delta("methodflow_callback_attempts_total", outcome="delivered") == 1
    assert worker_delta("methodflow_callback_attempts_total") == 1
    assert worker_delta("methodflow_callback_attempt_duration_seconds_count") == 1
    assert worker_delta("methodflow_batch_items_total", outcome="done") == 2
    assert worker_delta("methodflow_batch_items_total", outcome="failed") == 1

    # The Temporal SDK's own metrics, on the same port (its runtime is this test's: no earlier runs). It
    # names counters without `_total`, which the parser adds.
    assert "\ntemporal_workflow_completed{" in worker_after
    queue = {"task_queue": stack.task_queue, "workflow_type": "RunPipeline"}
    assert metric(worker_after, "temporal_workflow_completed_total", **queue) == 5
    failed = {"task_queue": stack.task_queue, "activity_type": "run_operator"}
    assert metric(worker_after, "temporal_activity_execution_failed_total", **failed) == 2


async def test_metrics_answer_404_when_disabled_and_elsewhere_on_the_worker_port(
    temporal_address: str, tmp_path: Path
) -> None:
    async with asgi_client(ApiSettings(metrics_enabled=False)) as client:
        assert_problem(await client.get("/metrics"), 404, "request.not_found")
        assert (await client.get("/health")).status_code == 200
    async with asgi_client(ApiSettings()) as client:
        assert (await client.get("/metrics")).status_code == 200
    async with observed_stack(temporal_address, tmp_path, api={}, worker={}) as stack:
        assert stack.worker_metrics is not None
        async with httpx.AsyncClient(trust_env=False) as http:
            base = f"http://127.0.0.1:{stack.worker_metrics.port}"
            assert (await http.get(f"{base}/")).status_code == 404
            assert (await http.post(f"{base}/metrics")).status_code == 404
            assert (await http.get(f"{base}/metrics")).status_code == 200


async def test_answers_over_the_tenant_limit_are_counted_as_429s(
    temporal_address: str, tmp_path: Path
) -> None:
    # A tenant of its own (its key's), so runs other tests left running do not count against its limit.
    tenant_key = f"metrics-{uuid.uuid4().hex[:8]}:{KEY}"
    api = {"auth_mode": "api_key", "api_key": tenant_key, "tenant_max_concurrent_runs": 1}
    headers = {"Authorization": f"Bearer {KEY}"}
    started: list[str] = []
    refused = 0
    async with observed_stack(temporal_address, tmp_path, api=api, worker=None) as stack:
        before = await stack.scrape_api()
        # No worker: the first run stays running. Starts after it are refused once visibility shows it.
        for number in range(50):
            run_id = f"limited-{number}"
            body = {"mthds_contents": [HELLO], "inputs": {"name": "x"}}
            answer = await stack.api.post(
                "/v1/start", json={**body, "pipeline_run_id": run_id}, headers=headers
            )
            if answer.status_code == 202:
                started.append(run_id)
            else:
                assert_problem(answer, 429, "tenant.run_limit_reached")
                assert answer.headers["retry-after"]
                refused += 1
                if refused == 2:
                    break
            await asyncio.sleep(0.1)
        assert refused == 2

        async def running_counted() -> bool:
            return metric(await stack.scrape_api(), "methodflow_runs_running") == len(started)

        await eventually(running_counted, "the running runs in the counts")
        after = await stack.scrape_api()
        temporal = await Client.connect(temporal_address)
        tenant = Caller(tenant_key.partition(":")[0], AuthMode.API_KEY).tenant_key
        for run_id in started:
            await temporal.get_workflow_handle(run_workflow_id(tenant, run_id)).terminate("test over")

    def delta(name: str, **labels: str) -> float:
        return metric(after, name, **labels) - metric(before, name, **labels)

    assert delta("methodflow_http_too_many_requests_total", route="/v1/start") == 2
    assert delta("methodflow_http_requests_total", route="/v1/start", method="POST", status="429") == 2
    assert delta("methodflow_http_requests_total", route="/v1/start", method="POST", status="202") == len(
        started
    )
    assert delta("methodflow_runs_started_total", route="/v1/start") == len(started)
