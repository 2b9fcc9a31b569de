"""One source of truth per timestamp (http-api.md §9): every route gives a run the same instants.

`created_at` is when the API accepted the run and `finished_at` when the workflow settled its end;
`/v1/runs`, `/status`, `/v1/runs/{id}`, `/execute`, the results and the `run.finished` event all agree.
An ended run's progress snapshot says `mode: final`.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.helpers.run_stack import run_stack
from tests.helpers.sse import read_events
from tests.integration.test_runs import greet_body


async def test_every_route_gives_a_run_the_same_instants(temporal_address: str, tmp_path: Path) -> None:
    run_id = f"instants-{uuid.uuid4()}"
    async with run_stack(temporal_address, tmp_path) as stack:
        executed = await stack.client.post("/v1/execute", json=greet_body(pipeline_run_id=run_id))
        assert executed.status_code == 200, executed.text
        created, finished = executed.json()["created_at"], executed.json()["finished_at"]
        assert created < finished

        status = (await stack.client.get(f"/v1/runs/{run_id}/status")).json()
        record = (await stack.client.get(f"/v1/runs/{run_id}")).json()
        listed = (await stack.client.get("/v1/runs?limit=100")).json()["items"]
        [item] = [item for item in listed if item["pipeline_run_id"] == run_id]
        events = await read_events(stack.client, f"/v1/runs/{run_id}/events")
        finished_event = events[-1].data
        for name, answer in (
            ("status", status),
            ("record", record),
            ("list", item),
            ("event", finished_event),
        ):
            assert (answer["created_at"], answer["finished_at"]) == (created, finished), name

        progress = (await stack.client.get(f"/v1/runs/{run_id}/progress")).json()
        assert progress["status"] == "succeeded"
        assert progress["mode"] == "final"
