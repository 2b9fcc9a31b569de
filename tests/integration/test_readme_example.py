"""The README's first run bundle runs as the README shows it (docs/examples/hello.mthds), and so does the
Python client's example (the README's, the same in docs/cli.md)."""

from __future__ import annotations

import ast
import asyncio
import os
import sys
from pathlib import Path

from tests.helpers.run_stack import run_stack

REPO_ROOT = Path(__file__).parents[2]
HELLO = REPO_ROOT / "docs" / "examples" / "hello.mthds"
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


def _python_block_after(page: Path, heading: str) -> str:
    """The first ```python block after `heading` on a Markdown page."""
    text = page.read_text(encoding="utf-8")
    after = text[text.index(heading) :]
    return after.split("```python\n", 1)[1].split("```", 1)[0]


async def test_the_client_example_runs_as_shown(temporal_address: str, tmp_path: Path) -> None:
    """The Python client's example (README.md and docs/cli.md), run as a user would: its own process, the service found
    through METHODFLOW_URL, from the repository's root (it reads docs/examples/hello.mthds)."""
    example = _python_block_after(REPO_ROOT / "README.md", "### From Python")
    # The README shows the docs' example as it is: one text, run here.
    assert example == _python_block_after(REPO_ROOT / "docs" / "cli.md", "## Python client")
    async with run_stack(temporal_address, tmp_path) as stack:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            example,
            cwd=REPO_ROOT,
            env={**os.environ, "METHODFLOW_URL": stack.base_url},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    state, main, problem = out.decode().splitlines()
    assert state == "COMPLETED"
    assert ast.literal_eval(main) == WELCOME
    assert problem == "404 run.not_found"
