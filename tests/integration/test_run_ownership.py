"""Tenancy of runs over real HTTP (http-api.md §3b, §7, §9): another identity's run is an unknown id.

Tenant B meets tenant A's run exactly as it meets an id that names nothing: 404 `run.not_found` on
every run route, absent from its list; a start under A's id is B's own run (§7), and A's run goes on
untouched (same Temporal run, no signal, same end).
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any, cast

import httpx
import jwt
import pytest
from pydantic import SecretStr
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from api.auth import AuthMode, Caller
from shared.runs.names import run_workflow_id
from tests.helpers.api_server import assert_problem
from tests.helpers.run_functions import SLOW
from tests.helpers.run_stack import RunStack, run_stack
from worker.temporal_connection import connect

SECRET = "ownership-secret-" + "x" * 47  # 64 bytes: PyJWT warns about short HMAC keys
JWT_MODE: dict[str, Any] = {"auth_mode": AuthMode.JWT, "jwt_secret_key": SecretStr(SECRET)}

SLOW_BUNDLE = f"""domain = "owned"
main_pipe = "echo"

[pipe.echo]
type = "PipeFunc"
description = "Slow echo"
inputs = {{ name = "Text" }}
output = "Text"
function_name = "{SLOW}"
"""
A_BODY: dict[str, Any] = {"mthds_contents": [SLOW_BUNDLE], "inputs": {"name": "Ada"}}


def bearer(subject: str) -> dict[str, str]:
    # PyJWT types its keys with `cryptography` classes, absent here: hence Unknown.
    token = jwt.encode({"sub": subject}, SECRET, algorithm="HS256")  # pyright: ignore[reportUnknownMemberType]
    return {"Authorization": f"Bearer {token}"}


A_IDENTITY = "tenant-a@example.com"
A = bearer(A_IDENTITY)
B = bearer("tenant-b@example.com")


@pytest.fixture
def slow_pipes(monkeypatch: pytest.MonkeyPatch) -> None:
    # Long enough that B's calls usually meet A's run while it runs; nothing asserted depends on it.
    monkeypatch.setenv("SLOW_SECONDS", "2")


@pytest.fixture
def run_id() -> str:
    # The dev server lives for the whole session: every test names its runs afresh.
    return f"run-a-{uuid.uuid4()}"


@pytest.fixture
async def temporal(temporal_address: str) -> Client:
    return await connect(temporal_address)


async def run_paths(stack: RunStack, run_id: str) -> list[tuple[str, str]]:
    """Every run route (method, path) the service serves for `run_id`, the event stream when present."""
    served = (await stack.client.get("/openapi.json")).json()["paths"]
    paths = [
        ("GET", f"/v1/runs/{run_id}"),
        ("GET", f"/v1/runs/{run_id}/status"),
        ("GET", f"/v1/runs/{run_id}/progress"),
        ("GET", f"/v1/runs/{run_id}/results"),
        ("POST", f"/v1/runs/{run_id}/cancel"),
    ]
    if "/v1/runs/{run_id}/events" in served:
        paths.append(("GET", f"/v1/runs/{run_id}/events"))
    return paths


def without_identifiers(document: dict[str, Any], run_id: str) -> dict[str, Any]:
    """A problem with its request id and run id blanked: what is left must not tell two ids apart."""
    return _blanked({key: value for key, value in document.items() if key != "request_id"}, run_id)


def _blanked(value: Any, run_id: str) -> Any:
    if isinstance(value, str):
        return value.replace(run_id, "<id>")
    if isinstance(value, dict):
        items = cast(dict[str, Any], value)
        return {key: _blanked(item, run_id) for key, item in items.items()}
    return value


def workflow_of(identity: str, run_id: str) -> str:
    """The workflow id of `identity`'s run `run_id` (http-api.md §7)."""
    return run_workflow_id(Caller(identity, AuthMode.JWT).tenant_key, run_id)


async def signals_of(temporal: Client, workflow_id: str) -> int:
    count = 0
    async for event in temporal.get_workflow_handle(workflow_id).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            count += 1
    return count


async def listed_ids(stack: RunStack, headers: dict[str, str], query: str = "") -> set[str]:
    response = await stack.client.get(f"/v1/runs{query}", headers=headers)
    assert response.status_code == 200, response.text
    return {item["pipeline_run_id"] for item in response.json()["items"]}


async def wait_until_listed(stack: RunStack, headers: dict[str, str], run_id: str) -> set[str]:
    """The caller's list once it shows `run_id` (visibility may lag a run's creation, §9.2)."""
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        ids = await listed_ids(stack, headers)
        if run_id in ids:
            return ids
        assert asyncio.get_running_loop().time() < deadline, f"{run_id} never listed: {ids}"
        await asyncio.sleep(0.1)


async def send(stack: RunStack, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    return await stack.client.request(method, path, headers=headers)


@pytest.mark.usefixtures("slow_pipes")
async def test_another_tenants_run_answers_as_an_unknown_id(
    temporal_address: str, tmp_path: Path, temporal: Client, run_id: str
) -> None:
    async with run_stack(temporal_address, tmp_path, api_overrides=JWT_MODE) as stack:
        started = await stack.client.post("/v1/start", json={**A_BODY, "pipeline_run_id": run_id}, headers=A)
        assert started.status_code == 202, started.text
        a_workflow = workflow_of(A_IDENTITY, run_id)
        temporal_run = (await temporal.get_workflow_handle(a_workflow).describe()).run_id
        unknown_id = f"nothing-{uuid.uuid4()}"

        for _ in ("while A's run may still run", "after it ended"):
            for (method, path), (_, unknown_path) in zip(
                await run_paths(stack, run_id), await run_paths(stack, unknown_id), strict=True
            ):
                theirs = assert_problem(await send(stack, method, path, B), 404, "run.not_found")
                assert theirs["params"] == {"pipeline_run_id": run_id}
                nothing = assert_problem(await send(stack, method, unknown_path, B), 404, "run.not_found")
                assert without_identifiers(theirs, run_id) == without_identifiers(nothing, unknown_id), path
            final = await stack.wait_for_end(run_id, headers=A)
            assert final["state"] == "COMPLETED"

        # B's cancels reached nothing: A's run ran to its end with no signal, as the same Temporal run.
        assert await signals_of(temporal, a_workflow) == 0
        assert (await temporal.get_workflow_handle(a_workflow).describe()).run_id == temporal_run
        results = await stack.client.get(f"/v1/runs/{run_id}/results", headers=A)
        assert results.status_code == 200, results.text
        assert results.json()["main_stuff"] == {"text": "Ada+"}
        record = (await stack.client.get(f"/v1/runs/{run_id}", headers=A)).json()
        assert record["created_by_user_id"] == A_IDENTITY


@pytest.mark.usefixtures("slow_pipes")
async def test_each_tenant_lists_only_its_own_runs(
    temporal_address: str, tmp_path: Path, run_id: str
) -> None:
    b_run_id = f"run-b-{uuid.uuid4()}"
    async with run_stack(temporal_address, tmp_path, api_overrides=JWT_MODE) as stack:
        for chosen, headers in ((run_id, A), (b_run_id, B)):
            body = {**A_BODY, "pipeline_run_id": chosen}
            assert (await stack.client.post("/v1/start", json=body, headers=headers)).status_code == 202

        # Each list is read once it shows the caller's own run, so the other's absence is not lag.
        assert b_run_id not in await wait_until_listed(stack, A, run_id)
        assert run_id not in await wait_until_listed(stack, B, b_run_id)
        # Filters never widen the list to other tenants, whatever they name (pipelex-sdk's own keys too).
        for query in (
            "?status=STARTED&status=RUNNING&status=COMPLETED",
            "?pipe_code=echo",
            f"?created_by={A_IDENTITY}&method_id=x",
            "?limit=100",
        ):
            assert run_id not in await listed_ids(stack, B, query), query


@pytest.mark.usefixtures("slow_pipes")
async def test_starting_under_another_tenants_id_starts_its_own_run(
    temporal_address: str, tmp_path: Path, temporal: Client, run_id: str
) -> None:
    async with run_stack(temporal_address, tmp_path, api_overrides=JWT_MODE) as stack:
        first = await stack.client.post("/v1/start", json={**A_BODY, "pipeline_run_id": run_id}, headers=A)
        assert first.status_code == 202, first.text
        a_workflow = workflow_of(A_IDENTITY, run_id)
        temporal_run = (await temporal.get_workflow_handle(a_workflow).describe()).run_id

        # §7: run ids are one namespace per identity: B's start under A's id is B's own new run, and
        # nothing of A's run shows in the answer (not its owner, state, pipe or inputs).
        b_body = {**A_BODY, "inputs": {"name": "Bob"}, "pipeline_run_id": run_id}
        response = await stack.client.post("/v1/start", json=b_body, headers=B)
        assert response.status_code == 202, response.text
        for secret in (A_IDENTITY, "Ada"):
            assert secret not in response.text
        again = await stack.client.post("/v1/start", json=A_BODY, headers={**B, "Idempotency-Key": run_id})
        assert_problem(again, 409, "request.idempotency_conflict")  # B's own run, another body

        # A's run is the one it started, unsignalled, and ends as A asked; B's ends with B's input.
        final = await stack.wait_for_end(run_id, headers=A)
        assert final["state"] == "COMPLETED"
        assert (await temporal.get_workflow_handle(a_workflow).describe()).run_id == temporal_run
        assert await signals_of(temporal, a_workflow) == 0
        a_results = (await stack.client.get(f"/v1/runs/{run_id}/results", headers=A)).json()
        assert a_results["main_stuff"] == {"text": "Ada+"}
        await stack.wait_for_end(run_id, headers=B)
        b_results = (await stack.client.get(f"/v1/runs/{run_id}/results", headers=B)).json()
        assert b_results["main_stuff"] == {"text": "Bob+"}
