"""`POST /v1/runs/resume` and `GET /v1/runs/resume/{job_id}` (issue 19): bulk resume after an incident.

On the real stack (API, worker, the session's Temporal server), with two API-key tenants named afresh per
test (the dev server lives for the whole session): a job resumes exactly the caller's matching runs, with
a corrected method; a correction a run cannot take fails that run and the job goes on; a run already
resumed is skipped; a job survives the API's restart and starts no run twice; an `Idempotency-Key` answers
the same job; a filter over `BULK_RESUME_MAX_RUNS` is refused with nothing started. Refusals that come
before Temporal is asked anything are checked on the app in-process.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import SecretStr

from api.auth import AuthMode
from api.main import create_app
from api.settings import ApiSettings
from client import AsyncMethodflowClient
from tests.helpers.api_server import asgi_client, assert_problem
from tests.helpers.run_functions import FAILING
from tests.helpers.run_stack import RunStack, run_stack
from worker.dev_server import free_port
from worker.temporal_connection import connect

# Nothing listens here: every refusal below comes before Temporal is asked anything.
REFUSING_TEMPORAL = "127.0.0.1:9"
KEY_A = "bulk-key-a-0123456789abcdef"
KEY_B = "bulk-key-b-0123456789abcdef"
A = {"Authorization": f"Bearer {KEY_A}"}
B = {"Authorization": f"Bearer {KEY_B}"}


def _bundle(pipe: str, code: str = "step") -> str:
    return f'domain = "bulk"\nmain_pipe = "{code}"\n\n[pipe.{code}]\n{pipe}'


_FAILING_PIPE = (
    f'type = "PipeFunc"\ndescription = "Fails"\ninputs = {{ name = "Text" }}\noutput = "Text"\n'
    f'function_name = "{FAILING}"\n'
)
FAILING_BUNDLE = _bundle(_FAILING_PIPE)
# A failing run of another pipe than `step`: what a filter on `pipe_code` leaves out.
OTHER_FAILING_BUNDLE = _bundle(_FAILING_PIPE, code="other")
# The correction: the same pipe, now working; or now outputting a list, which no resume may take.
FIXED_BUNDLE = _bundle(
    'type = "PipeCompose"\ndescription = "Greets"\ninputs = { name = "Text" }\noutput = "Text"\n'
    'template = "Hello, {{ name }}!"\n'
)
LIST_BUNDLE = _bundle(
    f'type = "PipeFunc"\ndescription = "Fails"\ninputs = {{ name = "Text" }}\noutput = "Text[]"\n'
    f'function_name = "{FAILING}"\n'
)
INVALID_BUNDLE = 'domain = "bulk"\n\n[pipe.step]\ntype = "PipeNothing"\n'
FIXED = {"filter": {"states": ["FAILED"]}, "mthds_contents": [FIXED_BUNDLE]}


def _tenants() -> dict[str, Any]:
    """Two API-key tenants no other test (nor an earlier session's run) has runs of."""
    suffix = uuid.uuid4().hex[:10]
    return {
        "auth_mode": AuthMode.API_KEY,
        "api_key": SecretStr(f"bulk_a_{suffix}:{KEY_A},bulk_b_{suffix}:{KEY_B}"),
    }


BAD_BODIES: list[tuple[bytes | dict[str, Any], str]] = [
    (b"[]", "body"),
    (b'"resume"', "body"),
    ({}, "filter"),
    ({"filter": []}, "filter"),
    ({"filter": {"states": "FAILED"}}, "filter.states"),
    ({"filter": {"states": []}}, "filter.states"),
    ({"filter": {"states": ["BROKEN"]}}, "filter.states"),
    ({"filter": {"states": ["FAILED", "COMPLETED"]}}, "filter.states"),
    ({"filter": {"states": ["RUNNING"]}}, "filter.states"),
    ({"filter": {"states": ["STARTED"]}}, "filter.states"),
    ({"filter": {"states": [3]}}, "filter.states"),
    ({"filter": {"created_after": "yesterday"}}, "filter.created_after"),
    ({"filter": {"created_after": "2026-11-23"}}, "filter.created_after"),
    ({"filter": {"created_after": "2026-11-23T14:00:00"}}, "filter.created_after"),
    ({"filter": {"created_before": "2026-13-01T00:00:00Z"}}, "filter.created_before"),
    (
        {"filter": {"created_after": "2026-11-23T15:00:00Z", "created_before": "2026-11-23T15:00:00+02:00"}},
        "filter.created_after",
    ),
    ({"filter": {"pipe_code": "not a pipe!"}}, "filter.pipe_code"),
    ({"filter": {"status": ["FAILED"]}}, "filter.status"),
    ({"filter": {}, "inputs": {"name": "Ada"}}, "inputs"),
    ({"filter": {}, "pipeline_run_id": "mine"}, "pipeline_run_id"),
    ({"filter": {}, "pipe_code": "step"}, "pipe_code"),
    ({"filter": {}, "budget": {"max_cost_usd": -1}}, "budget.max_cost_usd"),
    ({"filter": {}, "budget": "1 USD"}, "budget"),
    ({"filter": {}, "reuse": "all"}, "reuse"),
    ({"filter": {}, "callback_urls": "http://example.com"}, "callback_urls"),
    ({"filter": {}, "mthds_contents": [FIXED_BUNDLE], "mthds_content": FIXED_BUNDLE}, "mthds_content"),
]


@pytest.fixture
async def offline() -> AsyncGenerator[httpx.AsyncClient]:
    async with asgi_client(ApiSettings(temporal_address=REFUSING_TEMPORAL)) as client:
        yield client


async def test_every_bad_request_is_refused_naming_its_field(offline: httpx.AsyncClient) -> None:
    for body, field in BAD_BODIES:
        if isinstance(body, bytes):
            answer = await offline.post("/v1/runs/resume", content=body)
        else:
            answer = await offline.post("/v1/runs/resume", json=body)
        problem = assert_problem(answer, 422, "request.invalid")
        assert problem["params"] == {"field": field}, body
    malformed = await offline.post("/v1/runs/resume", content=b"{")
    assert_problem(malformed, 422, "request.malformed")
    invalid: dict[str, Any] = {"filter": {}, "mthds_contents": [INVALID_BUNDLE]}
    assert assert_problem(await offline.post("/v1/runs/resume", json=invalid), 422, "method.invalid")[
        "errors"
    ]
    # A well-formed request reaches Temporal, which is down here.
    assert_problem(await offline.post("/v1/runs/resume", json=FIXED), 503, "runtime.unavailable")
    for job_id in ["0" * 32, "nothing", "0" * 31 + "G", "0" * 33]:
        assert_problem(await offline.get(f"/v1/runs/resume/{job_id}"), 404, "job.not_found")


async def test_an_invalid_idempotency_key_is_refused_as_on_start(offline: httpx.AsyncClient) -> None:
    for key in ["", "has space", "x" * 256, "tab\there", "caf\u00e9"]:
        headers = [(b"Idempotency-Key", key.encode())]  # bytes: the last key is sent as UTF-8
        answer = await offline.post("/v1/runs/resume", json=FIXED, headers=headers)
        problem = assert_problem(answer, 422, "request.invalid")
        assert problem["params"] == {"field": "Idempotency-Key"}, key
    # The longest valid key gets past the check, to Temporal (down here).
    longest = await offline.post("/v1/runs/resume", json=FIXED, headers={"Idempotency-Key": "k" * 255})
    assert_problem(longest, 503, "runtime.unavailable")


async def _start(stack: RunStack, bundle: str, run_id: str, headers: dict[str, str]) -> None:
    body = {"mthds_contents": [bundle], "inputs": {"name": run_id}, "pipeline_run_id": run_id}
    answer = await stack.client.post("/v1/start", json=body, headers=headers)
    assert answer.status_code == 202, answer.text


async def _failed_runs(
    stack: RunStack, prefix: str, headers: dict[str, str], count: int, bundle: str = FAILING_BUNDLE
) -> list[str]:
    """`count` runs of the caller that ended FAILED, once the run listing shows them all."""
    run_ids = [f"{prefix}-{index}" for index in range(count)]
    for run_id in run_ids:
        await _start(stack, bundle, run_id, headers)
    for run_id in run_ids:
        assert (await stack.wait_for_end(run_id, headers=headers))["state"] == "FAILED"
    while True:  # visibility follows the runs' ends shortly after
        listed = await stack.client.get("/v1/runs", params={"state": "FAILED", "limit": 100}, headers=headers)
        if {item["pipeline_run_id"] for item in listed.json()["items"]} >= set(run_ids):
            return run_ids
        await asyncio.sleep(0.05)


async def _job(client: httpx.AsyncClient, job_id: str, headers: dict[str, str]) -> dict[str, Any]:
    answer = await client.get(f"/v1/runs/resume/{job_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    job: dict[str, Any] = answer.json()
    return job


async def _done(client: httpx.AsyncClient, job_id: str, headers: dict[str, str]) -> dict[str, Any]:
    """The job once DONE: polled, as a caller would (the test's timeout bounds the wait)."""
    while True:
        job = await _job(client, job_id, headers)
        if job["state"] == "DONE":
            return job
        await asyncio.sleep(0.05)


async def _bulk(client: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    answer = await client.post("/v1/runs/resume", json=body, headers=headers)
    assert answer.status_code == 202, answer.text
    accepted: dict[str, Any] = answer.json()
    assert answer.headers["location"] == f"/v1/runs/resume/{accepted['job_id']}"
    return accepted


async def _resumers(temporal_address: str, task_queue: str) -> dict[str, list[str]]:
    """Every run started on the task queue that resumes another: original id -> the workflows resuming it."""
    client = await connect(temporal_address)
    found: dict[str, list[str]] = {}
    async for execution in client.list_workflows(f"TaskQueue = '{task_queue}'"):
        memo = await execution.memo()
        original = memo.get("resumed_from")
        if isinstance(original, str):
            found.setdefault(original, []).append(execution.id)
    return found


async def test_a_job_resumes_the_callers_matching_runs_only(temporal_address: str, tmp_path: Path) -> None:
    overrides = {**_tenants(), "bulk_resume_rate_per_second": 20}
    async with run_stack(temporal_address, tmp_path, api_overrides=overrides) as stack:
        prefix = f"bulk-{uuid.uuid4().hex[:8]}"
        await _start(stack, FIXED_BUNDLE, f"{prefix}-completed", A)
        await _start(stack, FAILING_BUNDLE, f"{prefix}-other", B)
        failed = await _failed_runs(stack, prefix, A, 3)
        assert (await stack.wait_for_end(f"{prefix}-completed", headers=A))["state"] == "COMPLETED"
        assert (await stack.wait_for_end(f"{prefix}-other", headers=B))["state"] == "FAILED"

        # An invalid correction: the very answer a single resume gives, and no job.
        invalid = {"mthds_contents": [INVALID_BUNDLE]}
        single = await stack.client.post(f"/v1/runs/{failed[0]}/resume", json=invalid, headers=A)
        bulk = await stack.client.post("/v1/runs/resume", json={"filter": {}, **invalid}, headers=A)
        assert assert_problem(bulk, 422, "method.invalid")["errors"] == single.json()["errors"]

        # A filter matching nothing: a job done at once.
        nothing = await _bulk(stack.client, {"filter": {"pipe_code": "nothing"}}, A)
        assert (nothing["state"], nothing["matched"]) == ("DONE", 0)
        empty = await _job(stack.client, nothing["job_id"], A)
        assert (empty["state"], empty["runs"], empty["resumed"]) == ("DONE", [], 0)
        assert empty["finished_at"] == empty["created_at"]

        # A correction no run can take (its output changes): every run fails, the job goes on to the end.
        refused = await _bulk(stack.client, {**FIXED, "mthds_contents": [LIST_BUNDLE]}, A)
        assert refused["matched"] == 3
        job = await _done(stack.client, refused["job_id"], A)
        assert (job["resumed"], job["skipped"], job["failed"]) == (0, 0, 3)
        assert {run["problem"]["code"] for run in job["runs"]} == {"method.resume_output_changed"}

        # The correction: the caller's three failed runs resumed, nothing else.
        accepted = await _bulk(stack.client, FIXED, A)
        assert (accepted["state"], accepted["matched"]) == ("RUNNING", 3)
        job_id = accepted["job_id"]
        job = await _done(stack.client, job_id, A)
        assert (job["matched"], job["resumed"], job["skipped"], job["failed"]) == (3, 3, 0, 0)
        assert job["finished_at"] >= job["created_at"]
        assert sorted(run["run_id"] for run in job["runs"]) == failed
        for run in job["runs"]:
            assert run["outcome"] == "resumed"
            assert run["resumed_run_id"] == f"{run['run_id']}-r-{job_id}"
            ended = await stack.wait_for_end(run["resumed_run_id"], headers=A)
            assert ended["state"] == "COMPLETED"
            record = (await stack.client.get(f"/v1/runs/{run['resumed_run_id']}", headers=A)).json()
            assert record["resumed_from"] == run["run_id"]
            original = (await stack.client.get(f"/v1/runs/{run['run_id']}", headers=A)).json()
            assert original["resumed_by"] == [run["resumed_run_id"]]
        # Another tenant's job is no job at all.
        assert_problem(await stack.client.get(f"/v1/runs/resume/{job_id}", headers=B), 404, "job.not_found")
        assert (await stack.client.get(f"/v1/runs/{prefix}-other", headers=B)).json()["resumed_by"] == []

        # Once resumed, a run is skipped by the next job, naming the run that resumed it (through the client).
        async with AsyncMethodflowClient(stack.base_url, KEY_A) as methodflow:
            again = await methodflow.bulk_resume({"states": ["FAILED"]}, mthds_contents=[FIXED_BUNDLE])
            job = await _done(stack.client, again.job_id, A)
            read = await methodflow.resume_job(again.job_id)
        assert (read.state, read.matched, read.skipped, read.resumed) == ("DONE", 3, 3, 0)
        for run in read.runs:
            assert run.problem is not None
            assert run.problem["code"] == "run.not_resumable"
            assert f"{run.run_id}-r-{job_id}" in run.problem["detail"]
        assert job["runs"] == [run.model_dump(exclude_none=True) for run in read.runs]

        # Each failed run resumed once; the completed run and the other tenant's, never.
        resumers = await _resumers(temporal_address, stack.task_queue)
        assert {run_id: len(ids) for run_id, ids in resumers.items()} == dict.fromkeys(failed, 1)


@asynccontextmanager
async def _api(settings: ApiSettings) -> AsyncGenerator[httpx.AsyncClient]:
    """An API process's app on a loopback port, its lifespan included (where jobs continue and stop)."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 -- uvicorn offers a flag, not an event
        await asyncio.sleep(0.01)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        await serving


async def test_a_job_continues_after_an_api_restart_and_starts_nothing_twice(
    temporal_address: str, tmp_path: Path
) -> None:
    tenants = _tenants()
    async with run_stack(temporal_address, tmp_path, api_overrides=tenants) as stack:
        failed = await _failed_runs(stack, f"bulk-{uuid.uuid4().hex[:8]}", A, 3)
        # Two seconds between runs: the API stops long before the job's end.
        settings = ApiSettings(
            temporal_address=temporal_address,
            temporal_task_queue=stack.task_queue,
            data_dir=tmp_path,
            bulk_resume_rate_per_second=0.5,
            **tenants,
        )
        async with _api(settings) as first:
            job_id = (await _bulk(first, FIXED, A))["job_id"]
            while True:  # stopped once the job has resumed its first run
                before = await _job(first, job_id, A)
                if before["resumed"] >= 1:
                    break
                await asyncio.sleep(0.05)
        assert before["state"] == "RUNNING"
        assert before["resumed"] < 3
        reached = {run["run_id"] for run in before["runs"]}
        # A run the job had started when the API stopped, before it could record it: the single resume
        # of the same correction under the job's id stands for it.
        pending = next(run_id for run_id in failed if run_id not in reached)
        started = await stack.client.post(
            f"/v1/runs/{pending}/resume",
            json={"mthds_contents": [FIXED_BUNDLE], "pipeline_run_id": f"{pending}-r-{job_id}"},
            headers=A,
        )
        assert started.status_code == 202, started.text

        async with _api(settings) as second:
            job = await _done(second, job_id, A)
        assert (job["matched"], job["resumed"], job["skipped"], job["failed"]) == (3, 3, 0, 0)
        for run in job["runs"]:
            assert run["resumed_run_id"] == f"{run['run_id']}-r-{job_id}"
            assert (await stack.wait_for_end(run["resumed_run_id"], headers=A))["state"] == "COMPLETED"
        resumers = await _resumers(temporal_address, stack.task_queue)
        assert {run_id: len(resumers.get(run_id, [])) for run_id in failed} == dict.fromkeys(failed, 1)


async def test_the_same_idempotency_key_answers_the_same_job(temporal_address: str, tmp_path: Path) -> None:
    overrides = {**_tenants(), "bulk_resume_rate_per_second": 20}
    async with run_stack(temporal_address, tmp_path, api_overrides=overrides) as stack:
        failed = await _failed_runs(stack, f"bulk-{uuid.uuid4().hex[:8]}", A, 3)
        key = f"incident-{uuid.uuid4().hex[:8]}"
        keyed_a = {**A, "Idempotency-Key": key}

        # Two POSTs at once with one key: one job, which both answer.
        first, second = await asyncio.gather(
            _bulk(stack.client, FIXED, keyed_a), _bulk(stack.client, FIXED, keyed_a)
        )
        assert first == second
        assert (first["matched"], len(first["job_id"])) == (3, 32)
        job_id = first["job_id"]
        job = await _done(stack.client, job_id, A)
        assert (job["matched"], job["resumed"], job["skipped"], job["failed"]) == (3, 3, 0, 0)

        # Repeated once the job is done: the same job, now DONE, and nothing resumed again. The body's
        # member order and spacing do not make it another request.
        assert await _bulk(stack.client, FIXED, keyed_a) == {"job_id": job_id, "state": "DONE", "matched": 3}
        reordered = (
            b'{ "mthds_contents": '
            + json.dumps([FIXED_BUNDLE]).encode()
            + b', "filter": {"states": ["FAILED"]} }'
        )
        again = await stack.client.post(
            "/v1/runs/resume", content=reordered, headers={**keyed_a, "Content-Type": "application/json"}
        )
        assert (again.status_code, again.json()["job_id"]) == (202, job_id)

        # The same key with another request: a conflict, and no job.
        for other in [{**FIXED, "reuse": "tenant"}, {"filter": {"states": ["FAILED"]}}]:
            conflict = await stack.client.post("/v1/runs/resume", json=other, headers=keyed_a)
            assert assert_problem(conflict, 409, "request.idempotency_conflict")["params"] == {
                "job_id": job_id
            }

        # Another tenant's same key is another job (B has no failed run: done at once).
        theirs = await _bulk(stack.client, FIXED, {**B, "Idempotency-Key": key})
        assert theirs["job_id"] != job_id
        assert (theirs["state"], theirs["matched"]) == ("DONE", 0)
        # Without a key, a POST is a new job: each run it matches was already resumed, so skipped.
        fresh = await _bulk(stack.client, FIXED, A)
        assert fresh["job_id"] != job_id
        assert (await _done(stack.client, fresh["job_id"], A))["skipped"] == 3

        assert (await _job(stack.client, job_id, A))["resumed"] == 3
        resumers = await _resumers(temporal_address, stack.task_queue)
        # Workflow ids are `<tenant>/<run id>`: each failed run resumed once, by the keyed job's run.
        resumed = {run_id: [found.rpartition("/")[2] for found in ids] for run_id, ids in resumers.items()}
        assert resumed == {run_id: [f"{run_id}-r-{job_id}"] for run_id in failed}


def _job_files(data_dir: Path) -> list[Path]:
    """Every bulk resume job file or open pointer stored under the data dir (the local blob store)."""
    return [path for path in data_dir.rglob("*") if path.name.startswith("resume-jobs")]


async def test_a_filter_matching_over_the_cap_is_refused_and_starts_nothing(
    temporal_address: str, tmp_path: Path
) -> None:
    overrides = {**_tenants(), "bulk_resume_rate_per_second": 20, "bulk_resume_max_runs": 2}
    async with run_stack(temporal_address, tmp_path, api_overrides=overrides) as stack:
        prefix = f"bulk-{uuid.uuid4().hex[:8]}"
        steps = await _failed_runs(stack, f"{prefix}-step", A, 2)
        others = await _failed_runs(stack, f"{prefix}-other", A, 1, bundle=OTHER_FAILING_BUNDLE)

        # Three failed runs match `{}`: over the cap of 2, refused naming `filter`, with or without a key.
        for headers in [A, {**A, "Idempotency-Key": f"cap-{prefix}"}]:
            refused = await stack.client.post("/v1/runs/resume", json=FIXED, headers=headers)
            problem = assert_problem(refused, 422, "request.invalid")
            assert problem["params"] == {"field": "filter"}
            assert "more than 2 runs" in problem["detail"]
        # No job written (neither its manifest nor an open pointer), no run started.
        assert _job_files(tmp_path) == []
        assert await _resumers(temporal_address, stack.task_queue) == {}

        # Narrowed to the cap, it is a job like any other.
        accepted = await _bulk(stack.client, {**FIXED, "filter": {"pipe_code": "step"}}, A)
        assert accepted["matched"] == 2
        job = await _done(stack.client, accepted["job_id"], A)
        assert (job["resumed"], sorted(run["run_id"] for run in job["runs"])) == (2, steps)
        resumers = await _resumers(temporal_address, stack.task_queue)
        assert sorted(resumers) == steps
        assert others[0] not in resumers
