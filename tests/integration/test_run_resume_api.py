"""`POST /v1/runs/{id}/resume` and the `reuse` / `budget` request fields, over real HTTP (issue 19).

The resume route on the real stack (API, worker, the session's Temporal server) with two API-key
tenants: a failed run resumed (the records show `resumed_from` and `resumed_by`), a cancelled one
resumed with a corrected method that completes, and every refusal. Refusals that come before any run
is read (a bad body, a bad `budget` or `reuse`) are checked on the app in-process, with no Temporal.
Whether a resume reuses work end to end is tests/integration/test_resume_runs.py.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from temporalio.api.enums.v1 import EventType

from api.auth import AuthMode
from api.settings import ApiSettings
from shared.runs.workflow_io import RunBudget, RunSpec
from tests.helpers.api_server import asgi_client, assert_problem
from tests.helpers.run_functions import FAILING, SLOW
from tests.helpers.run_stack import RunStack, run_stack
from worker.temporal_connection import connect

# Nothing listens here: every refusal below comes before Temporal is asked anything.
REFUSING_TEMPORAL = "127.0.0.1:9"
KEY_A = "resume-key-a-0123456789abcdef"
KEY_B = "resume-key-b-0123456789abcdef"
A = {"Authorization": f"Bearer {KEY_A}"}
B = {"Authorization": f"Bearer {KEY_B}"}
TWO_TENANTS: dict[str, Any] = {"auth_mode": AuthMode.API_KEY, "api_key": SecretStr(f"a:{KEY_A},b:{KEY_B}")}


def _bundle(pipe: str) -> str:
    return f'domain = "resumed"\nmain_pipe = "step"\n\n[pipe.step]\n{pipe}'


FAILING_BUNDLE = _bundle(
    f'type = "PipeFunc"\ndescription = "Fails"\ninputs = {{ name = "Text" }}\noutput = "Text"\n'
    f'function_name = "{FAILING}"\n'
)
SLOW_BUNDLE = _bundle(
    f'type = "PipeFunc"\ndescription = "Slow"\ninputs = {{ name = "Text" }}\noutput = "Text"\n'
    f'function_name = "{SLOW}"\n'
)
# The corrections: the same pipe, now working; or now outputting a list.
FIXED_BUNDLE = _bundle(
    'type = "PipeCompose"\ndescription = "Greets"\ninputs = { name = "Text" }\noutput = "Text"\n'
    'template = "Hello, {{ name }}!"\n'
)
LIST_BUNDLE = _bundle(
    f'type = "PipeFunc"\ndescription = "Fails"\ninputs = {{ name = "Text" }}\noutput = "Text[]"\n'
    f'function_name = "{FAILING}"\n'
)
# The dev server lives for the whole session: every run of this module names its runs afresh.
RUN = f"resume-{uuid.uuid4().hex[:8]}"
GREET_BODY: dict[str, Any] = {"mthds_contents": [FIXED_BUNDLE], "inputs": {"name": "Ada"}}

BAD_BUDGETS: list[tuple[Any, str]] = [
    ({"max_cost_usd": -1}, "budget.max_cost_usd"),
    ({"max_cost_usd": 0}, "budget.max_cost_usd"),
    ({"max_cost_usd": "5"}, "budget.max_cost_usd"),
    ({"max_cost_usd": True}, "budget.max_cost_usd"),
    ({"max_tokens": 0}, "budget.max_tokens"),
    ({"max_tokens": -10}, "budget.max_tokens"),
    ({"max_tokens": 2.5}, "budget.max_tokens"),
    ({"max_tokens": False}, "budget.max_tokens"),
    ({"max_cost_usd": 1, "max_calls": 3}, "budget.max_calls"),
    ({}, "budget"),
    ({"max_cost_usd": None}, "budget"),
    (5, "budget"),
    ("1 USD", "budget"),
]


@pytest.fixture
async def offline() -> Any:
    async with asgi_client(ApiSettings(temporal_address=REFUSING_TEMPORAL)) as client:
        yield client


@pytest.mark.parametrize("route", ["/v1/start", "/v1/execute", "/v1/runs/some-run/resume"])
async def test_a_bad_budget_is_refused_naming_its_member(offline: httpx.AsyncClient, route: str) -> None:
    for budget, field in BAD_BUDGETS:
        body = {**GREET_BODY, "budget": budget} if route != "/v1/runs/some-run/resume" else {"budget": budget}
        problem = assert_problem(await offline.post(route, json=body), 422, "request.invalid")
        assert problem["params"] == {"field": field}, budget


@pytest.mark.parametrize("route", ["/v1/start", "/v1/runs/some-run/resume"])
async def test_reuse_is_tenant_or_nothing(offline: httpx.AsyncClient, route: str) -> None:
    for reuse in ["all", "TENANT", "", 1, True, ["tenant"]]:
        body = {**GREET_BODY, "reuse": reuse} if route == "/v1/start" else {"reuse": reuse}
        problem = assert_problem(await offline.post(route, json=body), 422, "request.invalid")
        assert problem["params"] == {"field": "reuse"}, reuse


async def test_a_resume_body_is_an_object_of_resume_members(offline: httpx.AsyncClient) -> None:
    route = "/v1/runs/some-run/resume"
    for content, field in [
        (b"[]", "body"),
        (b'"go"', "body"),
        (b"3", "body"),
        (b'{"pipe_code": "x"}', "pipe_code"),
    ]:
        problem = assert_problem(await offline.post(route, content=content), 422, "request.invalid")
        assert problem["params"] == {"field": field}, content
    assert_problem(await offline.post(route, content=b"{"), 422, "request.malformed")


async def _ended(stack: RunStack, run_id: str) -> dict[str, Any]:
    await stack.wait_for_end(run_id, headers=A)
    answer = await stack.client.get(f"/v1/runs/{run_id}", headers=A)
    assert answer.status_code == 200, answer.text
    record: dict[str, Any] = answer.json()
    return record


async def _start(stack: RunStack, body: dict[str, Any], run_id: str) -> dict[str, Any]:
    answer = await stack.client.post("/v1/start", json={**body, "pipeline_run_id": run_id}, headers=A)
    assert answer.status_code == 202, answer.text
    started: dict[str, Any] = answer.json()
    return started


async def _spec(temporal_address: str, workflow_id: str) -> RunSpec:
    """The run's workflow input, as the worker received it."""
    client = await connect(temporal_address)
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        assert event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
        payloads = event.workflow_execution_started_event_attributes.input.payloads
        decoded = await client.data_converter.decode(list(payloads), [RunSpec])
        assert isinstance(decoded[0], RunSpec)
        return decoded[0]
    msg = f"no history for {workflow_id}"
    raise AssertionError(msg)


async def test_resume_on_the_run_stack(
    temporal_address: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Long enough that the resume below meets the slow run live; it is cancelled right after.
    monkeypatch.setenv("SLOW_SECONDS", "5")
    async with run_stack(temporal_address, tmp_path, api_overrides=TWO_TENANTS) as stack:
        inputs = {"inputs": {"name": "Ada"}}
        slow = await _start(stack, {"mthds_contents": [SLOW_BUNDLE], **inputs}, f"{RUN}-slow")
        failing = await _start(
            stack,
            {"mthds_contents": [FAILING_BUNDLE], **inputs, "budget": {"max_cost_usd": 2}},
            f"{RUN}-failing",
        )
        await _start(stack, GREET_BODY, f"{RUN}-completed")

        # A run still going cannot be resumed; once cancelled, it can.
        live = await stack.client.post(f"/v1/runs/{RUN}-slow/resume", headers=A)
        assert assert_problem(live, 409, "run.not_resumable")["params"]["state"] in {"STARTED", "RUNNING"}
        assert (await stack.client.post(f"/v1/runs/{RUN}-slow/cancel", headers=A)).status_code == 202

        assert (await _ended(stack, f"{RUN}-failing"))["state"] == "FAILED"
        assert (await _ended(stack, f"{RUN}-completed"))["state"] == "COMPLETED"
        done = await stack.client.post(f"/v1/runs/{RUN}-completed/resume", headers=A)
        assert assert_problem(done, 409, "run.not_resumable")["params"] == {"state": "COMPLETED"}
        # Another tenant's run is no run at all; nor is an unknown id.
        assert_problem(
            await stack.client.post(f"/v1/runs/{RUN}-failing/resume", headers=B), 404, "run.not_found"
        )
        assert_problem(
            await stack.client.post(f"/v1/runs/{RUN}-nothing/resume", headers=A), 404, "run.not_found"
        )
        # A correction may not change what the run's pipe outputs.
        changed = await stack.client.post(
            f"/v1/runs/{RUN}-failing/resume", json={"mthds_contents": [LIST_BUNDLE]}, headers=A
        )
        problem = assert_problem(changed, 422, "method.resume_output_changed")
        assert problem["params"] == {
            "pipe": "resumed.step",
            "original_concept": "native.Text",
            "concept": "native.Text[]",
        }
        # The new run's id may not be one already taken by another request.
        taken = await stack.client.post(
            f"/v1/runs/{RUN}-failing/resume", json={"pipeline_run_id": f"{RUN}-completed"}, headers=A
        )
        assert_problem(taken, 409, "request.idempotency_conflict")

        # The failed run resumed as it was: same method, same stored inputs, same budget.
        resumed = await stack.client.post(
            f"/v1/runs/{RUN}-failing/resume", json={"pipeline_run_id": f"{RUN}-again"}, headers=A
        )
        assert resumed.status_code == 202, resumed.text
        assert resumed.json()["pipeline_run_id"] == f"{RUN}-again"
        assert resumed.json()["resumed_from"] == f"{RUN}-failing"
        assert resumed.headers["location"] == f"/v1/runs/{RUN}-again"
        repeat = await stack.client.post(
            f"/v1/runs/{RUN}-failing/resume", json={"pipeline_run_id": f"{RUN}-again"}, headers=A
        )
        assert repeat.status_code == 200, repeat.text
        assert repeat.json()["pipeline_run_id"] == f"{RUN}-again"
        spec = await _spec(temporal_address, resumed.json()["workflow_id"])
        original = await _spec(temporal_address, failing["workflow_id"])
        assert (spec.resumed_from, spec.reuse_runs) == (f"{RUN}-failing", [f"{RUN}-failing"])
        assert spec.inputs == original.inputs
        assert spec.bundles == original.bundles
        assert spec.budget == RunBudget(max_cost_usd=2)
        again = await _ended(stack, f"{RUN}-again")
        assert again["resumed_from"] == f"{RUN}-failing"
        assert again["state"] == "FAILED"  # nothing was corrected

        # The cancelled run resumed with a corrected method: it completes, and its lineage goes on.
        fixed = await stack.client.post(
            f"/v1/runs/{RUN}-again/resume",
            json={"mthds_contents": [FIXED_BUNDLE], "pipeline_run_id": f"{RUN}-fixed", "reuse": "tenant"},
            headers=A,
        )
        assert fixed.status_code == 202, fixed.text
        fixed_spec = await _spec(temporal_address, fixed.json()["workflow_id"])
        assert fixed_spec.reuse_runs == [f"{RUN}-again", f"{RUN}-failing"]
        assert fixed_spec.reuse_tenant is True
        record = await _ended(stack, f"{RUN}-fixed")
        assert record["state"] == "COMPLETED"
        results = (await stack.client.get(f"/v1/runs/{RUN}-fixed/results", headers=A)).json()
        assert results["main_stuff"] == {"text": "Hello, Ada!"}

        cancelled = await _ended(stack, f"{RUN}-slow")
        assert cancelled["state"] == "CANCELLED"
        from_cancelled = await stack.client.post(
            f"/v1/runs/{RUN}-slow/resume", json={"mthds_contents": [FIXED_BUNDLE]}, headers=A
        )
        assert from_cancelled.status_code == 202, from_cancelled.text
        await _ended(stack, from_cancelled.json()["pipeline_run_id"])

        # The records: the new run names what it resumes, the original every run that resumed it.
        first = await _ended(stack, f"{RUN}-failing")
        assert first["resumed_from"] is None
        assert first["resumed_by"] == [f"{RUN}-again"]
        status = (await stack.client.get(f"/v1/runs/{RUN}-again/status", headers=A)).json()
        assert (status["resumed_from"], status["resumed_by"]) == (f"{RUN}-failing", [f"{RUN}-fixed"])
        assert (await _ended(stack, f"{RUN}-slow"))["resumed_by"] == [
            from_cancelled.json()["pipeline_run_id"]
        ]
        assert record["resumed_by"] == []
        assert "reused_invocations" not in record  # nothing of the failed runs could be reused
        assert slow["pipeline_run_id"] == f"{RUN}-slow"


async def test_budget_and_reuse_reach_the_run_and_its_digest(temporal_address: str, tmp_path: Path) -> None:
    async with run_stack(temporal_address, tmp_path, worker=False) as stack:
        body = {**GREET_BODY, "budget": {"max_tokens": 1000, "max_cost_usd": 0.5}, "reuse": "tenant"}
        started = await stack.client.post("/v1/start", json={**body, "pipeline_run_id": f"{RUN}-budgeted"})
        assert started.status_code == 202, started.text
        spec = await _spec(temporal_address, started.json()["workflow_id"])
        assert spec.budget == RunBudget(max_cost_usd=0.5, max_tokens=1000)
        assert spec.reuse_tenant is True
        # The same request again is a replay; another budget under the same id is another request.
        again = await stack.client.post("/v1/start", json={**body, "pipeline_run_id": f"{RUN}-budgeted"})
        assert again.status_code == 200, again.text
        other = {**body, "budget": {"max_tokens": 2000}, "pipeline_run_id": f"{RUN}-budgeted"}
        assert_problem(await stack.client.post("/v1/start", json=other), 409, "request.idempotency_conflict")
        plain = {**GREET_BODY, "pipeline_run_id": f"{RUN}-budgeted"}
        assert_problem(await stack.client.post("/v1/start", json=plain), 409, "request.idempotency_conflict")
        temporal = await connect(temporal_address)
        await temporal.get_workflow_handle(started.json()["workflow_id"]).terminate("no worker runs here")
