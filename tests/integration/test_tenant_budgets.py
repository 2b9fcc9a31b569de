"""Per-tenant limits and `GET /v1/usage` end to end (issue 19): a worker limiting tenants to 2 model calls
at once and 0.2 USD a day, two API-key tenants of their own (the tenant ledger outlives the test, and
the session's other tests share the Temporal server), PipeLLM calls to the OpenAI-compatible test
server, whose log is the ground truth: every call takes `DELAY` seconds there, so that calls in flight
overlap in its log.

Prices and worst cases: `tests/helpers/budget_models.py` (a call reserves about 0.038 USD, costs 0.012).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from pydantic import SecretStr

from api.auth import AuthMode
from tests.helpers.api_server import assert_problem
from tests.helpers.budget_models import (
    ANSWER,
    BUNDLE,
    CHAT,
    DECK,
    KEY,
    OUTPUT_CAP,
    batch_request,
    billed,
    calls_of,
    ended_record,
)
from tests.helpers.model_servers.model_server import Fault, ModelServer, Received
from tests.helpers.model_stack import model_stack

pytestmark = pytest.mark.filterwarnings("ignore:Cannot find activity to cancel:UserWarning")

DELAY = 0.3
MAX_CONCURRENT = 2
DAILY_LIMIT_USD = 0.2


def _most_at_once(calls: list[Received]) -> int:
    """The most calls in flight at once, each from its arrival for `DELAY` (the server answers no sooner)."""
    return max(sum(1 for other in calls if other.at <= call.at < other.at + DELAY) for call in calls)


@pytest.mark.timeout(180)
async def test_tenant_limits_bound_calls_in_flight_and_the_days_spend_and_usage_reads_it(
    temporal_address: str, tmp_path: Path
) -> None:
    first, other = f"limits-{uuid.uuid4().hex[:12]}", f"limits-{uuid.uuid4().hex[:12]}"
    first_key, other_key = f"sk-first-{uuid.uuid4().hex}", f"sk-other-{uuid.uuid4().hex}"
    as_first = {"Authorization": f"Bearer {first_key}"}
    as_other = {"Authorization": f"Bearer {other_key}"}
    server = ModelServer("openai", api_key=KEY, answer=ANSWER)
    server.script(Fault(delay=DELAY, times=10**6))
    api = {"auth_mode": AuthMode.API_KEY, "api_key": SecretStr(f"{first}:{first_key},{other}:{other_key}")}
    async with model_stack(
        temporal_address,
        tmp_path,
        [server],
        deck=DECK,
        keys={"openai": KEY},
        api_overrides=api,
        pipe_activity_max_attempts=1,
        budget_max_output_tokens=OUTPUT_CAP,
        batch_inline_max_items=1,
        batch_chunk_items=2,
        batch_window_chunks=4,
        batch_chunk_concurrency=2,
        tenant_max_concurrent_model_calls=MAX_CONCURRENT,
        tenant_max_cost_per_day_usd=DAILY_LIMIT_USD,
    ) as stack:
        client = stack.client
        before = await client.get("/v1/usage", headers=as_first)
        assert before.status_code == 200, before.text
        assert before.json() == {"days": [], "calls_in_flight": 0}
        assert_problem(await client.get("/v1/usage"), 401, "auth.missing_credential")

        # 8 calls that fit the day: never more than 2 at the provider at once, though 8 could be.
        started = await client.post("/v1/start", json=batch_request("limits-a", "a", 8), headers=as_first)
        assert started.status_code == 202, started.text
        done = await ended_record(client, "limits-a", headers=as_first)
        assert done["state"] == "COMPLETED", done
        calls = calls_of(server, "a")
        assert len(calls) == 8
        assert _most_at_once(calls) <= MAX_CONCURRENT
        assert all(call.body.get("max_completion_tokens") == OUTPUT_CAP for call in calls)

        read = await client.get("/v1/usage", headers=as_first)
        assert read.status_code == 200, read.text
        (today,) = read.json()["days"]
        spent_first = sum(billed(call, server) for call in calls)
        assert today["model_calls"] == 8
        assert today["cost_usd"] == pytest.approx(spent_first)
        assert today["pipes"] == [
            {
                "pipe_code": "greet_one",
                "cost_usd": today["cost_usd"],
                "tokens": today["tokens"],
                "model_calls": 8,
            }
        ]
        # Another tenant's usage holds nothing of it.
        theirs = await client.get("/v1/usage", headers=as_other)
        assert theirs.json() == {"days": [], "calls_in_flight": 0}

        # 16 more calls do not fit the day: the run stops, and the day's spend stays within the limit.
        started = await client.post("/v1/start", json=batch_request("limits-b", "b", 16), headers=as_first)
        assert started.status_code == 202, started.text
        stopped = await ended_record(client, "limits-b", headers=as_first)
        assert stopped["state"] == "FAILED", stopped
        error = stopped["error"]
        assert error["code"] == "tenant.daily_budget_exceeded", error
        assert error["params"]["limit"] == DAILY_LIMIT_USD
        assert error["params"]["pipe"] == "greet_one"
        more = calls_of(server, "b")
        assert 0 < len(more) < 16
        assert spent_first + sum(billed(call, server) for call in more) <= DAILY_LIMIT_USD
        assert _most_at_once(more) <= MAX_CONCURRENT
        assert len(server.requests(CHAT)) == 8 + len(more)


async def test_usage_is_counted_without_limits_when_the_worker_is_asked_to(
    temporal_address: str, tmp_path: Path
) -> None:
    tenant, key = f"usage-{uuid.uuid4().hex[:12]}", f"sk-usage-{uuid.uuid4().hex}"
    as_tenant = {"Authorization": f"Bearer {key}"}
    server = ModelServer("openai", api_key=KEY, answer=ANSWER)
    api = {"auth_mode": AuthMode.API_KEY, "api_key": SecretStr(f"{tenant}:{key}")}
    async with model_stack(
        temporal_address,
        tmp_path,
        [server],
        deck=DECK,
        keys={"openai": KEY},
        api_overrides=api,
        pipe_activity_max_attempts=1,
        tenant_usage_ledger=True,
    ) as stack:
        body = {"mthds_contents": [BUNDLE], "pipe_code": "greet_one", "inputs": {"item": "counted"}}
        answer = await stack.client.post("/v1/execute", json=body, headers=as_tenant)
        assert answer.status_code == 200, answer.text
        (call,) = server.requests(CHAT)
        # No limit: nothing to bound, so no cap is sent.
        assert "max_completion_tokens" not in call.body
        read = await stack.client.get("/v1/usage", headers=as_tenant)
        assert read.status_code == 200, read.text
        (today,) = read.json()["days"]
        assert today["model_calls"] == 1
        assert today["cost_usd"] == pytest.approx(billed(call, server))
        assert [pipe["pipe_code"] for pipe in today["pipes"]] == ["greet_one"]
