"""`GET /v1/runs/{id}/results/items`: a run's list output a page at a time, over real HTTP on Temporal."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from tests.helpers.api_server import assert_problem
from tests.helpers.run_stack import RunStack, run_stack
from tests.integration.test_run_bad_input import BATCH
from tests.integration.test_runs import FUNCS, greet_body

WORDS = [f"w{index}" for index in range(250)]


async def run(stack: RunStack, body: dict[str, Any]) -> str:
    run_id = f"items-{uuid.uuid4()}"
    started = await stack.client.post("/v1/start", json={**body, "pipeline_run_id": run_id})
    assert started.status_code == 202, started.text
    await stack.wait_for_end(run_id)
    return run_id


async def test_a_list_output_reads_page_by_page(temporal_address: str, tmp_path: Path) -> None:
    async with run_stack(temporal_address, tmp_path) as stack:
        run_id = await run(stack, {"mthds_contents": [BATCH], "inputs": {"words": WORDS}})
        read: list[Any] = []
        offset: int | None = 0
        while offset is not None:
            page = await stack.client.get(f"/v1/runs/{run_id}/results/items?offset={offset}&limit=100")
            assert page.status_code == 200, page.text
            body = page.json()
            assert body["total"] == len(WORDS)
            assert body["offset"] == offset
            assert len(body["items"]) <= 100
            read += body["items"]
            offset = body["next_offset"]
        assert read == [{"text": f"<{word}>"} for word in WORDS]
        whole = (await stack.client.get(f"/v1/runs/{run_id}/results")).json()["main_stuff"]["items"]
        assert read == whole
        past = (await stack.client.get(f"/v1/runs/{run_id}/results/items?offset=1000")).json()
        assert (past["items"], past["next_offset"], past["total"]) == ([], None, len(WORDS))
        named = (await stack.client.get(f"/v1/runs/{run_id}/results/items?name=words&limit=3")).json()
        assert named["items"] == [{"text": word} for word in WORDS[:3]]

        for query, field in (
            ("limit=0", "limit"),
            ("limit=1001", "limit"),
            ("offset=-1", "offset"),
            ("offset=x", "offset"),
            ("name=nothing", "name"),
        ):
            refused = assert_problem(
                await stack.client.get(f"/v1/runs/{run_id}/results/items?{query}"), 422, "request.invalid"
            )
            assert refused["params"]["field"] == field, (query, refused)

        single = await run(stack, greet_body())
        refused = assert_problem(
            await stack.client.get(f"/v1/runs/{single}/results/items"), 422, "request.invalid"
        )
        assert "not a list" in refused["detail"]
        assert_problem(
            await stack.client.get(f"/v1/runs/nothing-{uuid.uuid4()}/results/items"), 404, "run.not_found"
        )


async def test_a_failed_run_has_no_items(temporal_address: str, tmp_path: Path) -> None:
    async with run_stack(temporal_address, tmp_path) as stack:
        failed = await run(stack, {"mthds_contents": [FUNCS], "pipe_code": "broken", "inputs": {"name": "x"}})
        problem = assert_problem(
            await stack.client.get(f"/v1/runs/{failed}/results/items"), 409, "run.failed"
        )
        assert problem["params"]["run_status"] == "FAILED"
