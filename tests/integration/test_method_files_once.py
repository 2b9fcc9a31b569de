"""A method sent as `files` travels once (issue 14): the workflow input carries its bundles, the tree itself
is stored by content and the run record reads it back, so a tree of 1.2 MB of bundles fits a run.

Runs started before this (their input still carries the tree inline) read the same.
"""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from shared.runs.names import RUN_WORKFLOW, run_workflow_id
from shared.runs.workflow_io import BundleText, RunSpec
from tests.helpers.run_stack import run_stack
from tests.integration.test_runs import GREET
from worker.temporal_connection import connect

# The tenant of a service without authentication (api/auth.py).
SINGLE_TENANT = "single-tenant"
# Two bundles of 600,000 bytes each: Temporal's 2 MB input limit holds them once, not twice.
BUNDLE_BYTES = 600_000


def _large_bundle(domain: str) -> str:
    """A valid bundle of exactly `BUNDLE_BYTES` bytes: one pipe, then comment lines of plain text."""
    head = f'domain = "{domain}"\n\n[pipe.echo_{domain}]\ntype = "PipeCompose"\ndescription = "Echoes"\n'
    head += 'inputs = { name = "Text" }\noutput = "Text"\ntemplate = "{{ name }}"\n'
    line = "# " + "notes " * 16 + "\n"
    lines, rest = divmod(BUNDLE_BYTES - len(head), len(line))
    return head + line * lines + "#" * (rest - 1) + "\n"


def _tree() -> dict[str, object]:
    return {
        "main.mthds": GREET,
        "lib/first.mthds": _large_bundle("first"),
        "lib/second.mthds": _large_bundle("second"),
        "README.md": "# The greeting method\n",
        "assets/logo.bin": {"base64": base64.b64encode(b"\x89PNG\r\n").decode("ascii")},
    }


async def _input_bytes(client: Client, workflow_id: str) -> int:
    """The encoded size of the run's workflow input, read from the first event of its history."""
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        assert event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
        payloads = event.workflow_execution_started_event_attributes.input.payloads
        return sum(len(payload.data) for payload in payloads)
    msg = f"no history for {workflow_id}"
    raise AssertionError(msg)


async def test_a_large_tree_runs_and_its_files_read_back_intact(
    temporal_address: str, tmp_path: Path
) -> None:
    tree = _tree()
    bundles = [text for path, text in tree.items() if path.endswith(".mthds") and isinstance(text, str)]
    bundle_bytes = sum(len(text.encode()) for text in bundles)
    assert bundle_bytes > 1_200_000
    run_id = f"files-once-{uuid.uuid4()}"
    body = {"files": tree, "inputs": {"name": "Ada"}, "pipeline_run_id": run_id}
    async with run_stack(temporal_address, tmp_path) as stack:
        answer = await stack.client.post("/v1/execute", json=body)
        assert answer.status_code == 200, answer.text[:500]
        assert answer.json()["state"] == "COMPLETED"
        record = (await stack.client.get(f"/v1/runs/{run_id}")).json()
        assert record["files"] == tree
        assert record["mthds_contents"] == [
            tree["main.mthds"],
            tree["lib/first.mthds"],
            tree["lib/second.mthds"],
        ]
        # The same request again names the same run: the request digest did not change.
        again = await stack.client.post("/v1/start", json=body)
        assert again.status_code == 200, again.text[:500]
        assert again.json()["pipeline_run_id"] == run_id
        # A second run of the same tree shares its one stored copy.
        other = await stack.client.post("/v1/execute", json={**body, "pipeline_run_id": f"{run_id}-2"})
        assert other.status_code == 200, other.text[:500]
        stored = list((tmp_path / "storage" / "methods" / "trees").glob("*.json"))
        assert len(stored) == 1
        # A tree storage has lost leaves the record readable, without `files`.
        stored[0].unlink()
        lost = await stack.client.get(f"/v1/runs/{run_id}")
        assert lost.status_code == 200, lost.text[:500]
        assert "files" not in lost.json()
        assert lost.json()["mthds_contents"] == bundles
    temporal = await connect(temporal_address)
    size = await _input_bytes(temporal, run_workflow_id(SINGLE_TENANT, run_id))
    assert size < 1.5 * bundle_bytes, f"the workflow input takes {size} bytes for {bundle_bytes} of bundles"


async def test_a_run_whose_input_carries_its_files_inline_reads_the_same(
    temporal_address: str, tmp_path: Path
) -> None:
    # A run started before the tree was stored apart: its workflow input holds `files` itself.
    tree = {"main.mthds": GREET, "README.md": "# notes\n"}
    run_id = f"files-inline-{uuid.uuid4()}"
    workflow_id = run_workflow_id(SINGLE_TENANT, run_id)
    async with run_stack(temporal_address, tmp_path, worker=False) as stack:
        temporal = await connect(temporal_address)
        spec = RunSpec(
            run_id=run_id,
            identity=SINGLE_TENANT,
            storage_prefix=SINGLE_TENANT,
            request_id="req-inline",
            created_at="2025-01-01T00:00:00Z",
            request_digest="0" * 64,
            method_digest="0" * 64,
            bundles=[BundleText(path="main.mthds", text=GREET)],
            pipe_ref="greet.wrap",
            pipe_code="wrap",
            inputs={"name": "Ada"},
            files=tree,
        )
        memo = {"identity": SINGLE_TENANT, "tenant": SINGLE_TENANT, "run_id": run_id, "pipe_code": "wrap"}
        handle = await temporal.start_workflow(
            RUN_WORKFLOW, spec, id=workflow_id, task_queue=stack.task_queue, memo=memo
        )
        try:
            record = (await stack.client.get(f"/v1/runs/{run_id}")).json()
        finally:
            await handle.terminate("test over")
        assert record["files"] == tree
        assert record["mthds_contents"] == [GREET]
