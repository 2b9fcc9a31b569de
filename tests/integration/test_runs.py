"""Durable runs end to end: the real Temporal dev server, a worker in-process, the API over real HTTP."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.helpers.api_server import assert_problem
from tests.helpers.run_functions import FAILING, SLOW
from tests.helpers.run_stack import run_stack
from worker.dev_server import free_port

GREET = """domain = "greet"
main_pipe = "wrap"

[pipe.hello]
type = "PipeCompose"
description = "Greets"
inputs = { name = "Text" }
output = "Text"
template = "Hello, {{ name }}!"

[pipe.shout]
type = "PipeCompose"
description = "Wraps"
inputs = { greeting = "Text" }
output = "Text"
template = ">> {{ greeting }} <<"

[pipe.wrap]
type = "PipeSequence"
description = "Greets then wraps"
inputs = { name = "Text" }
output = "Text"
steps = [{ pipe = "hello", result = "greeting" }, { pipe = "shout", result = "wrapped" }]
"""

FUNCS = f"""domain = "funcs"

[pipe.slow]
type = "PipeFunc"
description = "Slow echo"
inputs = {{ name = "Text" }}
output = "Text"
function_name = "{SLOW}"

[pipe.broken]
type = "PipeFunc"
description = "Always fails"
inputs = {{ name = "Text" }}
output = "Text"
function_name = "{FAILING}"
"""


def greet_body(**extra: object) -> dict[str, object]:
    return {"mthds_contents": [GREET], "inputs": {"name": "Ada"}, **extra}


async def test_execute_answers_the_whole_result(temporal_address: str, tmp_path: Path) -> None:
    async with run_stack(temporal_address, tmp_path) as stack:
        response = await stack.client.post("/v1/execute", json=greet_body())
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["state"] == body["pipeline_state"] == "COMPLETED"
        assert body["main_stuff_name"] == "wrapped"
        root = body["pipe_output"]["working_memory"]["root"]
        assert root["wrapped"]["content"] == {"text": ">> Hello, Ada! <<"}
        assert root["wrapped"]["concept"] == "native.Text"


async def test_start_then_read_the_run(temporal_address: str, tmp_path: Path) -> None:
    async with run_stack(temporal_address, tmp_path) as stack:
        started = await stack.client.post("/v1/start", json=greet_body(pipeline_run_id="run-greet-1"))
        assert started.status_code == 202, started.text
        assert started.headers["location"] == "/v1/runs/run-greet-1"
        assert started.json()["state"] == "STARTED"
        final = await stack.wait_for_end("run-greet-1")
        assert final["state"] == "COMPLETED"
        assert final["progress"]["pipes_done"] == 3
        results = await stack.client.get("/v1/runs/run-greet-1/results")
        assert results.status_code == 200
        assert results.json()["main_stuff"] == {"text": ">> Hello, Ada! <<"}
        narrowed = await stack.client.get("/v1/runs/run-greet-1/results?artifacts=main_stuff")
        assert set(narrowed.json()) == {"pipeline_run_id", "main_stuff"}
        progress = (await stack.client.get("/v1/runs/run-greet-1/progress")).json()
        assert [item["path"] for item in progress["invocations"]] == [
            "greet.wrap",
            "greet.wrap/step_1",
            "greet.wrap/step_2",
        ]
        assert progress["status"] == "succeeded"
        record = (await stack.client.get("/v1/runs/run-greet-1")).json()
        assert record["inputs"] == {"name": "Ada"}
        assert record["mthds_contents"] == [GREET]
        again = await stack.client.post("/v1/start", json=greet_body(pipeline_run_id="run-greet-1"))
        assert again.status_code == 200
        assert again.json()["state"] == "COMPLETED"
        conflict = await stack.client.post(
            "/v1/start", json={**greet_body(pipeline_run_id="run-greet-1"), "inputs": {"name": "Bob"}}
        )
        assert_problem(conflict, 409, "request.idempotency_conflict")
        cancel = await stack.client.post("/v1/runs/run-greet-1/cancel")
        assert_problem(cancel, 409, "run.already_ended")


async def test_concurrent_starts_with_one_id_make_one_run(temporal_address: str, tmp_path: Path) -> None:
    async with run_stack(temporal_address, tmp_path) as stack:
        answers = await asyncio.gather(
            *(
                stack.client.post("/v1/start", json=greet_body(), headers={"Idempotency-Key": "order-4242"})
                for _ in range(50)
            )
        )
        statuses = sorted(answer.status_code for answer in answers)
        assert statuses.count(202) == 1, statuses
        assert set(statuses) <= {200, 202}
        assert {answer.json()["pipeline_run_id"] for answer in answers} == {"order-4242"}


async def test_unknown_run_and_bad_method(temporal_address: str, tmp_path: Path) -> None:
    async with run_stack(temporal_address, tmp_path) as stack:
        for path in (
            "/v1/runs/nope",
            "/v1/runs/nope/status",
            "/v1/runs/nope/results",
            "/v1/runs/nope/progress",
        ):
            assert_problem(await stack.client.get(path), 404, "run.not_found")
        assert_problem(await stack.client.post("/v1/runs/nope/cancel"), 404, "run.not_found")
        bad = await stack.client.post(
            "/v1/start", json={"mthds_contents": ["domain = 1"], "pipeline_run_id": "never-started"}
        )
        assert_problem(bad, 422, "method.invalid")
        missing_input = await stack.client.post(
            "/v1/start", json={"mthds_contents": [GREET], "pipeline_run_id": "never-started"}
        )
        assert_problem(missing_input, 422, "input.missing")
        assert_problem(await stack.client.get("/v1/runs/never-started"), 404, "run.not_found")
        malformed = await stack.client.post(
            "/v1/start", content=b"{not json", headers={"content-type": "text/plain"}
        )
        assert_problem(malformed, 422, "request.malformed")


async def test_a_failing_pipe_fails_the_run_typed(temporal_address: str, tmp_path: Path) -> None:
    async with run_stack(temporal_address, tmp_path) as stack:
        body = {
            "mthds_contents": [FUNCS],
            "pipe_code": "broken",
            "inputs": {"name": "x"},
            "pipeline_run_id": "run-broken",
        }
        response = await stack.client.post("/v1/execute", json=body)
        problem = assert_problem(response, 422, "pipe.function_failed")
        assert problem["pipeline_run_id"] == "run-broken"
        assert problem["location"]["pipe"] == "broken"
        results = await stack.client.get("/v1/runs/run-broken/results")
        failed = assert_problem(results, 409, "run.failed")
        assert failed["params"]["run_status"] == "FAILED"
        assert failed["run_error"]["code"] == "pipe.function_failed"


async def test_cancel_and_timeout(temporal_address: str, tmp_path: Path, monkeypatch: object) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setenv("SLOW_SECONDS", "30")
    async with run_stack(
        temporal_address, tmp_path, worker_overrides={"pipe_activity_heartbeat_seconds": 2}
    ) as stack:
        body = {"mthds_contents": [FUNCS], "pipe_code": "slow", "inputs": {"name": "x"}}
        started = await stack.client.post("/v1/start", json={**body, "pipeline_run_id": "run-cancel"})
        assert started.status_code == 202
        for _ in range(200):
            if (await stack.client.get("/v1/runs/run-cancel/status")).json()["state"] == "RUNNING":
                break
            await asyncio.sleep(0.05)
        too_long = await stack.client.post("/v1/runs/run-cancel/cancel", json={"reason": "x" * 513})
        assert_problem(too_long, 422, "request.invalid")
        cancel = await stack.client.post("/v1/runs/run-cancel/cancel", json={"reason": "order withdrawn"})
        assert cancel.status_code == 202
        assert cancel.json()["cancel_requested"] is True
        final = await stack.wait_for_end("run-cancel", within=20)
        assert final["state"] == "CANCELLED"
        assert final["error"]["code"] == "run.cancelled"
        assert final["error"]["params"] == {"reason": "order withdrawn"}
        timed = await stack.client.post("/v1/execute", json={**body, "run_timeout_seconds": 1})
        assert_problem(timed, 422, "run.timed_out")


async def test_temporal_down_means_503_and_nothing_started(tmp_path: Path) -> None:
    async with run_stack(f"127.0.0.1:{free_port()}", tmp_path, worker=False) as stack:
        ready = await stack.client.get("/ready")
        problem = assert_problem(ready, 503, "runtime.unavailable")
        assert problem["params"] == {"component": "temporal"}
        started = await stack.client.post("/v1/start", json=greet_body())
        assert_problem(started, 503, "runtime.unavailable")
        assert started.headers["retry-after"] == "5"


async def test_ready_when_temporal_answers(temporal_address: str, tmp_path: Path) -> None:
    async with run_stack(temporal_address, tmp_path, worker=False) as stack:
        ready = await stack.client.get("/ready")
        # No worker polls the stack's queues: ready all the same, and it says which queues wait.
        queue = stack.task_queue
        assert ready.json() == {
            "status": "ready",
            "temporal": "ok",
            "unpolled_task_queues": [queue, f"{queue}-callbacks"],
        }
        assert isinstance(stack.client, httpx.AsyncClient)
