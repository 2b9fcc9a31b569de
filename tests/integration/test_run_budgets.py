"""Run budgets end to end (issue 19): the API and a worker on the real Temporal dev server, PipeLLM calls to
the OpenAI-compatible test server, whose own log is the ground truth of what was called and what it cost
(prices and worst cases: `tests/helpers/budget_models.py`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from shared.runs.budget_io import budget_workflow_id
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
from tests.helpers.model_servers.model_server import ModelServer, Received, count_tokens
from tests.helpers.model_stack import model_stack
from worker.runner import build_replayer
from worker.temporal_connection import connect

# A run stopped by its budget cancels the calls of its other chunks; the SDK warns when such a cancel
# reaches an activity that has just ended (a harmless race), and warnings are errors here.
pytestmark = pytest.mark.filterwarnings("ignore:Cannot find activity to cancel:UserWarning")

ITEMS = 8
# About 5 calls of the 8 (each reserving 0.038 and settling 0.012): the batch cannot finish within it.
LIMIT_USD = 0.075


def _budget_stack(temporal_address: str, tmp_path: Path, server: ModelServer, **overrides: Any) -> Any:
    # Chunks of 1 item, 8 chunks at once: 8 calls in flight across 8 child workflows sharing one budget.
    return model_stack(
        temporal_address,
        tmp_path,
        [server],
        deck=DECK,
        keys={"openai": KEY},
        pipe_activity_max_attempts=1,
        budget_max_output_tokens=OUTPUT_CAP,
        batch_inline_max_items=1,
        batch_chunk_items=1,
        batch_window_chunks=8,
        batch_chunk_concurrency=1,
        **overrides,
    )


def _assert_stopped_within(record: dict[str, Any], calls: list[Received], server: ModelServer) -> None:
    assert record["state"] == "FAILED", record
    error = record["error"]
    assert error["code"] == "run.budget_exceeded", error
    params = error["params"]
    assert params["limit"] == LIMIT_USD
    assert params["limit_kind"] == "cost_usd"
    assert params["pipe"] == "greet_one"
    # Refused only once what settled calls spent left no room for one more call's worst case.
    assert params["spent"] <= LIMIT_USD < params["spent"] + params["estimate"]["cost_usd"]
    # The provider's side: no call beyond the limit, and fewer calls than items.
    assert 0 < len(calls) < ITEMS
    spent = sum(billed(call, server) for call in calls)
    assert LIMIT_USD - params["estimate"]["cost_usd"] < spent <= LIMIT_USD
    assert all(call.body.get("max_completion_tokens") == OUTPUT_CAP for call in calls)


@pytest.mark.timeout(240)
async def test_a_budget_stops_a_batch_before_it_overspends_across_twenty_runs_of_eight_chunks(
    temporal_address: str, tmp_path: Path
) -> None:
    server = ModelServer("openai", api_key=KEY, answer=ANSWER)
    async with _budget_stack(temporal_address, tmp_path, server) as stack:
        runs = [f"budget-run-{index}" for index in range(20)]
        for index, run_id in enumerate(runs):
            started = await stack.client.post(
                "/v1/start", json=batch_request(run_id, f"r{index}", ITEMS, {"max_cost_usd": LIMIT_USD})
            )
            assert started.status_code == 202, started.text
        # Polled gently: twenty readers at once would take the CPU the runs need.
        records = await asyncio.gather(*(ended_record(stack.client, run_id, every=1.0) for run_id in runs))
        for index, record in enumerate(records):
            _assert_stopped_within(record, calls_of(server, f"r{index}"), server)
        # A resumed run may raise its budget: it makes only the calls the first one did not complete.
        first_calls = len(calls_of(server, "r0"))
        resumed = await stack.client.post(
            "/v1/runs/budget-run-0/resume",
            json={"pipeline_run_id": "budget-run-0-raised", "budget": {"max_cost_usd": 1.0}},
        )
        assert resumed.status_code == 202, resumed.text
        raised = await ended_record(stack.client, "budget-run-0-raised")
        assert raised["state"] == "COMPLETED", raised
        assert len(calls_of(server, "r0")) - first_calls == ITEMS - raised["reused_invocations"]
        assert raised["reused_invocations"] > 0
    # Deterministic: a stopped run's history and its ledger's (reservations waited, refused) replay.
    temporal = await connect(temporal_address)
    replayer = build_replayer()
    run_id = records[0]["workflow_id"]
    for workflow_id in (run_id, budget_workflow_id(run_id)):
        history = await temporal.get_workflow_handle(workflow_id).fetch_history()
        assert (await replayer.replay_workflow(history)).replay_failure is None


async def test_a_budget_smaller_than_one_call_fails_before_any_call(
    temporal_address: str, tmp_path: Path
) -> None:
    server = ModelServer("openai", api_key=KEY, answer=ANSWER)
    async with _budget_stack(temporal_address, tmp_path, server) as stack:
        for run_id, budget, kind in [
            ("budget-tiny-usd", {"max_cost_usd": 0.01}, "cost_usd"),
            ("budget-tiny-tokens", {"max_tokens": 20}, "tokens"),
        ]:
            body = {
                "mthds_contents": [BUNDLE],
                "pipe_code": "greet_one",
                "pipeline_run_id": run_id,
                "inputs": {"item": "tiny"},
                "budget": budget,
            }
            answer = await stack.client.post("/v1/execute", json=body)
            assert answer.status_code == 422, answer.text
            error = answer.json()
            assert error["code"] == "run.budget_exceeded", error
            params = error["params"]
            assert params["limit_kind"] == kind
            assert (params["spent"], params["reserved"]) == (0, 0)
            estimate = params["estimate"]
            assert estimate["output_tokens"] == OUTPUT_CAP
            assert estimate["input_tokens"] >= count_tokens("Greet tiny.")
            assert estimate["cost_usd"] > 0.01
        assert server.requests(CHAT) == []
        # An image's worst case counts its `image_cost`: 0.04 USD, over a budget of 0.01.
        body = {
            "mthds_contents": [BUNDLE],
            "pipe_code": "draw",
            "inputs": {"item": "tiny"},
            "budget": {"max_cost_usd": 0.01},
        }
        answer = await stack.client.post("/v1/execute", json=body)
        assert answer.status_code == 422, answer.text
        assert answer.json()["code"] == "run.budget_exceeded", answer.text
        assert server.requests("/v1/images/generations") == []
        # A search call of a budgeted run is capped as a chat call is.
        body = {**body, "pipe_code": "find", "budget": {"max_cost_usd": 10}}
        answer = await stack.client.post("/v1/execute", json=body)
        assert answer.status_code == 200, answer.text
        (searched,) = server.requests(CHAT)
        assert searched.body["max_completion_tokens"] == OUTPUT_CAP
        # Without a budget the same call is made, and no output cap is sent for it.
        body = {"mthds_contents": [BUNDLE], "pipe_code": "greet_one", "inputs": {"item": "free"}}
        answer = await stack.client.post("/v1/execute", json=body)
        assert answer.status_code == 200, answer.text
        call = server.requests(CHAT)[-1]
        assert "max_completion_tokens" not in call.body
