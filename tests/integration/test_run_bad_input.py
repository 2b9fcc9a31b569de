"""Bad input on the run routes, over real HTTP against real Temporal (http-api.md §1, §4.4, §4.5, §9, §13).

Each refusal is a problem document with the status and code the spec gives, and nothing half-starts:
the run id the request named stays free in Temporal (describe says NOT_FOUND) and unknown to the API.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.auth import SINGLE_TENANT
from api.temporal_gateway import MAX_PAYLOAD_BYTES
from shared.runs.names import run_workflow_id
from tests.helpers.api_server import assert_problem
from tests.helpers.run_functions import FAILING, SLOW
from tests.helpers.run_stack import RunStack, run_stack
from worker.dev_server import free_port, start_dev_server
from worker.runner import build_worker
from worker.settings import WorkerSettings
from worker.temporal_connection import connect, connect_when_healthy

GREET = """domain = "greet"
main_pipe = "hello"

[pipe.hello]
type = "PipeCompose"
description = "Greets"
inputs = { name = "Text" }
output = "Text"
template = "Hello, {{ name }}!"
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

BATCH = """domain = "many"
main_pipe = "wrap_all"

[pipe.wrap]
type = "PipeCompose"
description = "Wraps one word"
inputs = { word = "Text" }
output = "Text"
template = "<{{ word }}>"

[pipe.wrap_all]
type = "PipeBatch"
description = "Wraps every word"
inputs = { words = "Text[]" }
output = "Text[]"
branch_pipe_code = "wrap"
input_list_name = "words"
input_item_name = "word"
"""
BATCH_SIZE = 10_000


def new_id(label: str) -> str:
    # The dev server lives for the whole session: every test names its runs afresh.
    return f"{label}-{uuid.uuid4()}"


def greet_body(**extra: object) -> dict[str, object]:
    return {"mthds_contents": [GREET], "inputs": {"name": "Ada"}, **extra}


@pytest.fixture
async def temporal(temporal_address: str) -> Client:
    return await connect(temporal_address)


async def assert_never_started(stack: RunStack, temporal: Client, run_id: str) -> None:
    """No workflow exists under `run_id` and the API knows no such run."""
    assert_problem(await stack.client.get(f"/v1/runs/{quote(run_id, safe='')}"), 404, "run.not_found")
    with pytest.raises(RPCError) as raised:
        await temporal.get_workflow_handle(run_workflow_id(SINGLE_TENANT, run_id)).describe()
    assert raised.value.status == RPCStatusCode.NOT_FOUND


async def run_routes(stack: RunStack, run_id: str) -> list[tuple[str, str]]:
    """Every run route (method, path) for `run_id`, with the event stream when the service serves it."""
    served = (await stack.client.get("/openapi.json")).json()["paths"]
    segment = quote(run_id, safe="")
    routes = [
        ("GET", f"/v1/runs/{segment}"),
        ("GET", f"/v1/runs/{segment}/status"),
        ("GET", f"/v1/runs/{segment}/progress"),
        ("GET", f"/v1/runs/{segment}/results"),
        ("POST", f"/v1/runs/{segment}/cancel"),
    ]
    if "/v1/runs/{run_id}/events" in served:
        routes.append(("GET", f"/v1/runs/{segment}/events"))
    return routes


async def wait_for_state(stack: RunStack, run_id: str, state: str) -> None:
    deadline = asyncio.get_running_loop().time() + 30
    while (await stack.client.get(f"/v1/runs/{run_id}/status")).json()["state"] != state:
        assert asyncio.get_running_loop().time() < deadline, f"{run_id} never reached {state}"
        await asyncio.sleep(0.05)


async def test_results_while_running_then_cancel_of_ended_runs(
    temporal_address: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLOW_SECONDS", "30")  # the run is cancelled long before; nothing waits for it
    running, broken = new_id("running"), new_id("broken")
    async with run_stack(
        temporal_address, tmp_path, worker_overrides={"pipe_activity_heartbeat_seconds": 2}
    ) as stack:
        for run_id, pipe in ((running, "slow"), (broken, "broken")):
            body = {"mthds_contents": [FUNCS], "pipe_code": pipe, "inputs": {"name": "x"}}
            started = await stack.client.post("/v1/start", json={**body, "pipeline_run_id": run_id})
            assert started.status_code == 202, started.text
        await wait_for_state(stack, running, "RUNNING")

        # §9.6: 202 + integer Retry-After while running, as pipelex-sdk's wait_for_result expects.
        for query in ("", "?artifacts=main_stuff"):
            results = await stack.client.get(f"/v1/runs/{running}/results{query}")
            assert results.status_code == 202, results.text
            assert results.headers["retry-after"] == "2"
            assert results.headers["content-type"] == "application/json"
            assert results.json() == {"pipeline_run_id": running, "state": "RUNNING", "status": "RUNNING"}

        cancel = await stack.client.post(f"/v1/runs/{running}/cancel", json={"reason": "bad input test"})
        assert cancel.status_code == 202, cancel.text
        assert (await stack.wait_for_end(running))["state"] == "CANCELLED"
        failed = assert_problem(await stack.client.get(f"/v1/runs/{running}/results"), 409, "run.failed")
        assert failed["params"] == {"run_status": "CANCELLED"}
        assert failed["run_error"]["code"] == "run.cancelled"
        assert (await stack.wait_for_end(broken))["state"] == "FAILED"

        # §9.7: cancel of an ended run, whichever way it ended, is 409 naming how it ended.
        for run_id, state in ((running, "CANCELLED"), (broken, "FAILED")):
            ended = assert_problem(
                await stack.client.post(f"/v1/runs/{run_id}/cancel"), 409, "run.already_ended"
            )
            assert ended["params"] == {"run_status": state}
            assert ended["pipeline_run_id"] == run_id
            assert (await stack.client.get(f"/v1/runs/{run_id}/status")).json()["state"] == state


async def test_unknown_run_ids_answer_404_on_every_route(
    temporal_address: str, tmp_path: Path, temporal: Client
) -> None:
    # A workflow that is not a run (another type, no worker for it) is no run either.
    foreign = new_id("not-a-run")
    await temporal.start_workflow("SomethingElse", id=foreign, task_queue=new_id("nobody-polls"))
    try:
        async with run_stack(temporal_address, tmp_path, worker=False) as stack:
            unknown = [new_id("unknown"), "x" * 300, "a b", "ünïcödé", "semi;colon", foreign]
            for run_id in unknown:
                for method, path in await run_routes(stack, run_id):
                    problem = assert_problem(await stack.client.request(method, path), 404, "run.not_found")
                    assert problem["params"] == {"pipeline_run_id": run_id}, path
        # The cancel attempts never reached the foreign workflow.
        history = [event async for event in temporal.get_workflow_handle(foreign).fetch_history_events()]
        assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED not in {event.event_type for event in history}
    finally:
        await temporal.get_workflow_handle(foreign).terminate("test over")


# (content, content type, status, code, params): §1 reads the body as JSON whatever its type; §4.5 step 2.
NOT_A_JSON_OBJECT: list[tuple[bytes, str | None, int, str, dict[str, Any]]] = [
    (b'{"mthds_contents": [', "application/json", 422, "request.malformed", {"reason": "not_json"}),
    (b"", None, 422, "request.malformed", {"reason": "not_json"}),
    (b"", "application/json", 422, "request.malformed", {"reason": "not_json"}),
    (
        b"mthds_contents=domain&inputs=name",
        "application/x-www-form-urlencoded",
        422,
        "request.malformed",
        {"reason": "not_json"},
    ),
    (b"mthds_contents: [greet]", "text/plain", 422, "request.malformed", {"reason": "not_json"}),
    (b'{"inputs": {"name": "\xff"}}', "application/json", 422, "request.malformed", {"reason": "not_json"}),
    (b'[{"mthds_contents": ["x"]}]', "application/json", 422, "request.invalid", {"field": "body"}),
    (b"[]", "application/json", 422, "request.invalid", {"field": "body"}),
    (b'"hello"', "application/json", 422, "request.invalid", {"field": "body"}),
    (b"null", "application/json", 422, "request.invalid", {"field": "body"}),
    (b"{}", "application/json", 422, "request.invalid", {"field": "mthds_contents"}),
]


async def test_bodies_that_are_not_a_run_request_start_nothing(
    temporal_address: str, tmp_path: Path, temporal: Client
) -> None:
    async with run_stack(temporal_address, tmp_path) as stack:
        for route in ("/v1/start", "/v1/execute", "/api/v1/pipeline/start"):
            for content, content_type, status, code, params in NOT_A_JSON_OBJECT:
                # The run id comes from the header, so it is known even when the body is unreadable.
                run_id = new_id("unreadable")
                headers = {"Idempotency-Key": run_id}
                if content_type is not None:
                    headers["Content-Type"] = content_type
                response = await stack.client.post(route, content=content, headers=headers)
                problem = assert_problem(response, status, code)
                assert problem["params"] == params, (route, content)
                await assert_never_started(stack, temporal, run_id)


async def test_the_content_type_does_not_decide(temporal_address: str, tmp_path: Path) -> None:
    # §1: the body is JSON whatever its Content-Type (the reference does not check it either), so a JSON
    # body sent as text, as a form or with no type at all is a run like any other.
    async with run_stack(temporal_address, tmp_path) as stack:
        run_ids: list[str] = []
        for content_type in (
            None,
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/json; charset=utf-8",
        ):
            run_id = new_id("typed")
            content = httpx.Request("POST", "/", json=greet_body(pipeline_run_id=run_id)).content
            headers = {"Content-Type": content_type} if content_type is not None else {}
            response = await stack.client.post("/v1/start", content=content, headers=headers)
            assert response.status_code == 202, (content_type, response.text)
            run_ids.append(run_id)
        for run_id in run_ids:
            assert (await stack.wait_for_end(run_id))["state"] == "COMPLETED"


# Minutes on a loaded machine, seconds on an idle one: bounded generously, the run itself by no clock.
@pytest.mark.timeout(900)
async def test_a_batch_of_ten_thousand_items_runs(temporal_address: str, tmp_path: Path) -> None:
    # No limit of §4.4 bounds a list input or a batch: within the body and payload limits it must run.
    # Its 10,000 items are more than a batch runs inside the run workflow (BATCH_INLINE_MAX_ITEMS): a
    # batch workflow runs them in chunk workflows of 1,000 in-workflow pipes each, and no activation may
    # hold the SDK's 2 s deadlock detector for them (shared/runtime/job_pool.py, worker/walk_pacer.py).
    run_id = new_id("batch")
    words = [f"w{index}" for index in range(BATCH_SIZE)]
    body = {"mthds_contents": [BATCH], "inputs": {"words": words}, "pipeline_run_id": run_id}
    async with run_stack(temporal_address, tmp_path) as stack:
        started = await stack.client.post("/v1/start", json=body)
        assert started.status_code == 202, started.text
        final = await stack.wait_for_end(run_id, within=840)
        assert final["state"] == "COMPLETED", final
        # The run's own walk is the batch pipe; its items ran in the chunks.
        assert final["progress"]["pipes_total"] == final["progress"]["pipes_done"] == 1
        results = await stack.client.get(f"/v1/runs/{run_id}/results?artifacts=main_stuff")
        assert results.status_code == 200, results.text[:500]
        items = results.json()["main_stuff"]["items"]
        assert len(items) == BATCH_SIZE
        assert items[0] == {"text": "<w0>"}
        assert items[-1] == {"text": f"<w{BATCH_SIZE - 1}>"}
        record = (await stack.client.get(f"/v1/runs/{run_id}")).json()
        assert record["inputs"]["words"] == words
        # §9.5: the batch is one invocation; its items are counted, not logged one by one.
        progress = (await stack.client.get(f"/v1/runs/{run_id}/progress")).json()
        assert [item["path"] for item in progress["invocations"]] == ["many.wrap_all"]


async def test_an_input_over_the_payload_limit_starts_nothing(
    temporal_address: str, tmp_path: Path, temporal: Client
) -> None:
    # Unknown members are kept in the run record (§4.1), inline in the workflow input: 3 MB of them is
    # under the body limit (MAX_REQUEST_BODY_MIB, 100 by default) but over what one workflow input may
    # carry, refused as the request's fault (413), never a 503 that asks to send it again. (Inputs of any
    # size within the body limit are stored and move by reference: tests/integration/test_large_contents.py.)
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("/v1/start", greet_body(notes="n" * 3_000_000), "notes"),
        ("/v1/execute", greet_body(notes="n" * 3_000_000), "notes"),
        ("/api/v1/pipeline/start", greet_body(notes="n" * 3_000_000), "notes"),
    ]
    async with run_stack(temporal_address, tmp_path) as stack:
        for route, body, field in cases:
            run_id = new_id("too-large")
            response = await stack.client.post(route, json={**body, "pipeline_run_id": run_id})
            problem = assert_problem(response, 413, "request.too_large")
            assert problem["params"]["field"] == field
            assert problem["params"]["limit"] == MAX_PAYLOAD_BYTES
            assert problem["params"]["size"] > MAX_PAYLOAD_BYTES
            assert problem["location"] == {"field": field}
            assert problem["retry"] == "no"
            await assert_never_started(stack, temporal, run_id)
            assert not list((tmp_path / "storage").rglob(run_id)), "nothing of the run was stored"


async def chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def test_a_body_over_the_body_limit_is_refused_before_reading(
    temporal_address: str, tmp_path: Path, temporal: Client
) -> None:
    limit = 16 * 1024 * 1024
    async with run_stack(temporal_address, tmp_path, api_overrides={"max_request_body_mib": 16}) as stack:
        run_id = new_id("over-body")
        body = httpx.Request("POST", "/", json=greet_body(inputs={"name": "x" * 20_000_000})).content
        declared = await stack.client.post("/v1/start", content=body, headers={"Idempotency-Key": run_id})
        problem = assert_problem(declared, 413, "request.too_large")
        assert problem["params"] == {"limit": limit, "size": len(body)}
        await assert_never_started(stack, temporal, run_id)

        # Chunked, without Content-Length: counted as read, refused at the chunk that crosses the limit.
        run_id = new_id("over-body-chunked")
        chunked = await stack.client.post(
            "/v1/start", content=chunks(body, 1024 * 1024), headers={"Idempotency-Key": run_id}
        )
        problem = assert_problem(chunked, 413, "request.too_large")
        assert problem["params"]["limit"] == limit
        assert limit < problem["params"]["size"] <= limit + 1024 * 1024
        await assert_never_started(stack, temporal, run_id)


async def test_temporal_down_then_back_loses_nothing(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    run_id = new_id("while-down")
    async with run_stack(address, tmp_path, worker=False) as stack:
        down = await stack.client.post("/v1/start", json=greet_body(pipeline_run_id=run_id))
        problem = assert_problem(down, 503, "runtime.unavailable")
        assert problem["params"] == {"component": "temporal"}
        assert problem["retry"] == "yes"
        assert problem["retry_after"] == 5
        assert down.headers["retry-after"] == "5"
        # Reads say the same (§9.4), never a stale state or a 404 that would mean "no such run".
        status = await stack.client.get(f"/v1/runs/{run_id}/status")
        assert assert_problem(status, 503, "runtime.unavailable")["retry_after"] == 5

        # Temporal comes back on the same address: the same request now starts the run, as new (202).
        server = start_dev_server(port=int(address.rsplit(":", 1)[1]))
        try:
            client = await connect_when_healthy(address)
            settings = WorkerSettings(data_dir=tmp_path)
            async with build_worker(client, settings, task_queue=stack.task_queue):
                assert (await stack.client.get("/ready")).status_code == 200
                again = await stack.client.post("/v1/start", json=greet_body(pipeline_run_id=run_id))
                assert again.status_code == 202, again.text
                assert (await stack.wait_for_end(run_id))["state"] == "COMPLETED"
                results = await stack.client.get(f"/v1/runs/{run_id}/results")
                assert results.json()["main_stuff"] == {"text": "Hello, Ada!"}
        finally:
            server.stop()
