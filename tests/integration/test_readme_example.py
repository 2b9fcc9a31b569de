"""The README's quickstart bundle runs as the README shows it (docs/examples/hello.mthds)."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.run_stack import run_stack

HELLO = Path(__file__).parents[2] / "docs" / "examples" / "hello.mthds"
WELCOME = {"guest": "Ada", "message": "Hello, Ada! Your run is durable."}


async def test_the_quickstart_bundle_executes_and_starts(temporal_address: str, tmp_path: Path) -> None:
    body = {"mthds_contents": [HELLO.read_text(encoding="utf-8")], "inputs": {"name": "Ada"}}
    async with run_stack(temporal_address, tmp_path) as stack:
        executed = await stack.client.post("/v1/execute", json=body)
        assert executed.status_code == 200, executed.text
        memory = executed.json()["pipe_output"]["working_memory"]
        assert memory["root"]["welcome"]["content"] == WELCOME
        assert memory["root"]["greeting"]["content"] == {"text": "Hello, Ada!"}
        started = await stack.client.post("/v1/start", json={**body, "pipeline_run_id": "hello-ada-1"})
        assert started.status_code == 202
        assert started.headers["location"] == "/v1/runs/hello-ada-1"
        status = await stack.wait_for_end("hello-ada-1")
        assert status["progress"]["pipes_done"] == 3
        results = await stack.client.get("/v1/runs/hello-ada-1/results")
        assert results.json()["main_stuff"] == WELCOME
