"""The per-tenant limit of running runs (TENANT_MAX_CONCURRENT_RUNS, issue 15) over real HTTP and a real
Temporal dev server: a tenant at its limit is answered 429 `tenant.run_limit_reached` with `Retry-After`
on every route that starts runs, and nothing is started; a repeat of one of its runs is still answered;
another tenant is not held back; a run that ends frees a place.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.auth import AuthMode, Caller
from api.tenant_limits import RETRY_AFTER_SECONDS, running_runs_query
from shared.runs.names import run_workflow_id
from tests.helpers.api_server import assert_problem
from tests.helpers.batch_functions import MARKED
from tests.helpers.run_stack import RunStack, run_stack
from worker.temporal_connection import connect_when_healthy

LIMIT = 2
# Tenants of this module alone: visibility counts every run of a tenant on the session's dev server.
_SUFFIX = uuid.uuid4().hex[:8]
TENANT_NAMES = {"acme": f"acme-{_SUFFIX}", "globex": f"globex-{_SUFFIX}"}
TENANT_KEYS = {"acme": "acme-limit-key", "globex": "globex-limit-key"}
AUTH = {
    "auth_mode": "api_key",
    "api_key": ",".join(f"{TENANT_NAMES[tenant]}:{key}" for tenant, key in TENANT_KEYS.items()),
}
# A run that holds (until cancelled): it stays running as long as the test needs it.
HOLD = f"""domain = "limits"
main_pipe = "hold"

[pipe.hold]
type = "PipeFunc"
description = "Holds its item until cancelled"
inputs = {{ item = "Text" }}
output = "Text"
function_name = "{MARKED}"
"""
# The routes that start a run, each with the status a started run answers on it.
STARTING_ROUTES = ("/v1/start", "/v1/execute", "/api/v1/pipeline/start", "/api/v1/pipeline/execute")


def _headers(tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TENANT_KEYS[tenant]}"}


def _tenant_key(tenant: str) -> str:
    return Caller(identity=TENANT_NAMES[tenant], mode=AuthMode.API_KEY).tenant_key


def _body(run_id: str) -> dict[str, Any]:
    return {"mthds_contents": [HOLD], "inputs": {"item": "hold-1"}, "pipeline_run_id": run_id}


async def _running(temporal: Client, tenant: str) -> int:
    return (await temporal.count_workflows(running_runs_query(_tenant_key(tenant)))).count


async def _wait_for_running(temporal: Client, tenant: str, count: int) -> None:
    """Until visibility counts `count` running runs of `tenant` (it follows the runs with a short lag)."""
    deadline = asyncio.get_running_loop().time() + 30
    while (running := await _running(temporal, tenant)) != count:
        assert asyncio.get_running_loop().time() < deadline, f"{tenant} has {running} runs, not {count}"
        await asyncio.sleep(0.1)


async def _start(stack: RunStack, tenant: str, run_id: str) -> httpx.Response:
    return await stack.client.post("/v1/start", json=_body(run_id), headers=_headers(tenant))


async def _assert_not_started(temporal: Client, tenant: str, run_id: str) -> None:
    with pytest.raises(RPCError) as raised:
        await temporal.get_workflow_handle(run_workflow_id(_tenant_key(tenant), run_id)).describe()
    assert raised.value.status == RPCStatusCode.NOT_FOUND


@pytest.mark.timeout(90)
async def test_a_tenant_at_its_limit_is_refused_429_with_retry_after_and_nothing_starts(
    temporal_address: str, tmp_path: Path
) -> None:
    temporal = await connect_when_healthy(temporal_address)
    overrides: dict[str, Any] = {**AUTH, "tenant_max_concurrent_runs": LIMIT}
    # Short heartbeats: a cancelled hold hears it within a second or two.
    async with run_stack(
        temporal_address,
        tmp_path,
        api_overrides=overrides,
        worker_overrides={"pipe_activity_heartbeat_seconds": 1},
    ) as stack:
        held = [f"held-{index}-{uuid.uuid4()}" for index in range(LIMIT)]
        started: list[tuple[str, str]] = []
        try:
            for run_id in held:
                response = await _start(stack, "acme", run_id)
                assert response.status_code == 202, response.text
                started.append(("acme", run_id))
            await _wait_for_running(temporal, "acme", LIMIT)

            # Every route that starts a run refuses the tenant's next one, and starts nothing.
            for route in STARTING_ROUTES:
                refused_id = f"refused-{uuid.uuid4()}"
                response = await stack.client.post(route, json=_body(refused_id), headers=_headers("acme"))
                problem = assert_problem(response, 429, "tenant.run_limit_reached")
                assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS), route
                assert problem["retry_after"] == RETRY_AFTER_SECONDS
                assert (problem["domain"], problem["retry"]) == ("account", "yes")
                assert problem["next_step"]["kind"] == "wait"
                assert problem["params"] == {"limit": LIMIT, "running": LIMIT}
                await _assert_not_started(temporal, "acme", refused_id)
            # Without a run id of the caller's choosing too (the id would be new).
            body = {"mthds_contents": [HOLD], "inputs": {"item": "hold-1"}}
            response = await stack.client.post("/v1/start", json=body, headers=_headers("acme"))
            assert_problem(response, 429, "tenant.run_limit_reached")
            await _wait_for_running(temporal, "acme", LIMIT)

            # A repeat of a run the tenant already has is answered with that run, not refused.
            repeat = await _start(stack, "acme", held[0])
            assert repeat.status_code == 200, repeat.text
            assert repeat.json()["pipeline_run_id"] == held[0]

            # Another tenant's runs are counted apart.
            other = f"other-{uuid.uuid4()}"
            response = await _start(stack, "globex", other)
            assert response.status_code == 202, response.text
            started.append(("globex", other))

            # A run that ends frees its place.
            cancelled = await stack.client.post(f"/v1/runs/{held[0]}/cancel", headers=_headers("acme"))
            assert cancelled.status_code in (200, 202), cancelled.text
            await stack.wait_for_end(held[0], headers=_headers("acme"))
            await _wait_for_running(temporal, "acme", LIMIT - 1)
            freed = f"freed-{uuid.uuid4()}"
            response = await _start(stack, "acme", freed)
            assert response.status_code == 202, response.text
            started.append(("acme", freed))
        finally:
            for tenant, run_id in started:
                await stack.client.post(f"/v1/runs/{run_id}/cancel", headers=_headers(tenant))
            for tenant, run_id in started:
                await stack.wait_for_end(run_id, headers=_headers(tenant))


async def test_no_limit_by_default(temporal_address: str, tmp_path: Path) -> None:
    """TENANT_MAX_CONCURRENT_RUNS unset (0): runs beyond any count start (here three held at once)."""
    temporal = await connect_when_healthy(temporal_address)
    async with run_stack(
        temporal_address,
        tmp_path,
        api_overrides=AUTH,
        worker_overrides={"pipe_activity_heartbeat_seconds": 1},
    ) as stack:
        run_ids = [f"unlimited-{index}-{uuid.uuid4()}" for index in range(3)]
        try:
            for run_id in run_ids:
                response = await _start(stack, "globex", run_id)
                assert response.status_code == 202, response.text
            await _wait_for_running(temporal, "globex", 3)
        finally:
            for run_id in run_ids:
                await stack.client.post(f"/v1/runs/{run_id}/cancel", headers=_headers("globex"))
            for run_id in run_ids:
                await stack.wait_for_end(run_id, headers=_headers("globex"))
