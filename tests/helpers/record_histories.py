"""Records the workflow histories that the replay test replays: representative runs through the real stack.

Run it deliberately, never to make a failing replay test pass (tests/data/histories/README.md):
`.venv/bin/python -m tests.helpers.record_histories [name ...]` (only the named recordings when names are
given, so a new recording joins the old files without rewriting them). It starts its own dev server on a free loopback port.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client, WorkflowHistory

from api.auth import SINGLE_TENANT
from shared.runs.names import RUN_OPERATOR_ACTIVITY, run_workflow_id
from shared.runtime.batch_plan import batch_key
from tests.helpers.batch_functions import MARKED
from tests.helpers.run_functions import FAILING, SLOW
from tests.helpers.run_stack import RunStack, run_stack
from worker.dev_server import free_port, start_dev_server
from worker.temporal_connection import connect

HISTORY_DIR = Path(__file__).resolve().parents[1] / "data" / "histories"

# Every branch of the workflow's shape: pure pipes in workflow code, operators as activities, a sequence,
# a parallel over a batch, a failing function, a cancel while an activity runs, the run timeout, a large
# result stored by an activity, a long batch of pure pipes (paced).
BUNDLE = f"""domain = "replay"

[pipe.hello]
type = "PipeCompose"
description = "Greets, in workflow code"
inputs = {{ name = "Text" }}
output = "Text"
template = "Hello, $name!"

[pipe.echo]
type = "PipeFunc"
description = "Echoes, as an activity"
inputs = {{ greeting = "Text" }}
output = "Text"
function_name = "{SLOW}"

[pipe.shout]
type = "PipeCompose"
description = "Wraps, in workflow code"
inputs = {{ echoed = "Text" }}
output = "Text"
template = ">> $echoed <<"

[pipe.greet]
type = "PipeSequence"
description = "Compose, function, compose"
inputs = {{ name = "Text" }}
output = "Text"
steps = [
  {{ pipe = "hello", result = "greeting" }},
  {{ pipe = "echo", result = "echoed" }},
  {{ pipe = "shout", result = "shouted" }},
]

[pipe.echo_name]
type = "PipeFunc"
description = "Echoes one name, as an activity"
inputs = {{ name = "Text" }}
output = "Text"
function_name = "{SLOW}"

[pipe.echo_all]
type = "PipeBatch"
description = "One activity per name"
inputs = {{ names = "Text[]" }}
output = "Text[]"
branch_pipe_code = "echo_name"
input_list_name = "names"
input_item_name = "name"

[pipe.fan_out]
type = "PipeParallel"
description = "A batch beside a sequence"
inputs = {{ names = "Text[]", name = "Text" }}
output = "Composite"
branches = [
  {{ pipe = "echo_all", result = "echoes" }},
  {{ pipe = "greet", result = "greeted" }},
]

[pipe.broken]
type = "PipeFunc"
description = "Always fails, as an activity"
inputs = {{ greeting = "Text" }}
output = "Text"
function_name = "{FAILING}"

[pipe.hello_all]
type = "PipeBatch"
description = "Greets every name, in workflow code"
inputs = {{ names = "Text[]" }}
output = "Text[]"
branch_pipe_code = "hello"
input_list_name = "names"
input_item_name = "name"

[pipe.check_one]
type = "PipeFunc"
description = "Fails for names marked bad, as an activity"
inputs = {{ name = "Text" }}
output = "Text"
function_name = "{MARKED}"

[pipe.check_all]
type = "PipeBatch"
description = "One activity per name; failures collected when the request asks"
inputs = {{ names = "Text[]" }}
output = "Text[]"
branch_pipe_code = "check_one"
input_list_name = "names"
input_item_name = "name"

[pipe.greet_then_fail]
type = "PipeSequence"
description = "Compose, then a failing function"
inputs = {{ name = "Text" }}
output = "Text"
steps = [
  {{ pipe = "hello", result = "greeting" }},
  {{ pipe = "broken", result = "never" }},
]
"""


@dataclass(frozen=True)
class Recording:
    """One representative run: what to start, how slow its functions are, how it must end."""

    name: str
    pipe_code: str
    inputs: dict[str, Any]
    final_state: str
    slow_seconds: float = 0.05
    cancel: bool = False
    run_timeout_seconds: float | None = None
    output_inline_max_kib: int = 256
    extra: dict[str, Any] = field(default_factory=dict[str, Any])  # more members of the request body
    # Which workflow's history to keep, below the run's workflow id: "" for the run itself, else a
    # child's suffix (`/batch/<key>`, `/batch/<key>/chunk/<n>`: docs/design/large-batches.md).
    workflow: str = ""
    batch_chunk_items: int = 100

    @property
    def worker_overrides(self) -> dict[str, Any]:
        # A short heartbeat delivers a cancel to the slow function quickly, so the worker stops at once.
        return {
            "pipe_activity_heartbeat_seconds": 1,
            "worker_graceful_shutdown_seconds": 5,
            "output_inline_max_kib": self.output_inline_max_kib,
            "batch_chunk_items": self.batch_chunk_items,
        }


BATCH_PARALLEL_COMPLETED = Recording(
    "batch_parallel_completed", "fan_out", {"names": ["a", "b", "c"], "name": "Ada"}, "COMPLETED"
)
RECORDINGS = (
    Recording("sequence_completed", "greet", {"name": "Ada"}, "COMPLETED"),
    BATCH_PARALLEL_COMPLETED,
    Recording("function_failed", "greet_then_fail", {"name": "Ada"}, "FAILED"),
    Recording("cancelled_while_running", "greet", {"name": "Ada"}, "CANCELLED", slow_seconds=60, cancel=True),
    Recording("timed_out", "greet", {"name": "Ada"}, "FAILED", slow_seconds=60, run_timeout_seconds=1),
    # A final working memory over the inline limit is stored by an activity, the result carries its URI.
    Recording("large_output_stored", "greet", {"name": "Ada" * 700}, "COMPLETED", output_inline_max_kib=1),
    # 121 in-workflow pipes: the walk pauses (a no-op local activity) after the 50th and the 100th.
    Recording(
        "long_compose_batch", "hello_all", {"names": [f"n{index}" for index in range(120)]}, "COMPLETED"
    ),
    # Since tenant-scoped run ids (issue 13): the cancel is a workflow update the workflow answers, and
    # the run's end time goes to the memo (a patched command).
    Recording("cancelled_by_update", "greet", {"name": "Ada"}, "CANCELLED", slow_seconds=60, cancel=True),
    # Issue 14's first slice: a batch whose failing item is collected, not fatal.
    Recording(
        "batch_failures_collected",
        "check_all",
        {"names": ["a", "bad-b", "c"]},
        "COMPLETED",
        extra={"batch_failures": "collect"},
    ),
    # Since batches leave the run workflow (issue 14): the run (patch marker, items stored, the batch
    # workflow as its child), the batch workflow (three chunks of two in its window, sealed), and one
    # chunk workflow (its loads, its items, its outputs stored), with one item's failure collected.
    *(
        Recording(
            name,
            "check_all",
            {"names": ["a", "bad-b", "c", "d", "e"]},
            "COMPLETED",
            extra={"batch_failures": "collect"},
            workflow=suffix,
            batch_chunk_items=2,
        )
        for name, suffix in (
            ("run_with_batch_workflow", ""),
            ("batch_workflow_collected", f"/batch/{batch_key('replay.check_all')}"),
            ("chunk_workflow_collected", f"/batch/{batch_key('replay.check_all')}/chunk/0"),
        )
    ),
)


class RecordingError(RuntimeError):
    """A representative run did not end the way its recording says: nothing is written."""


async def record(stack: RunStack, temporal: Client, recording: Recording, run_id: str) -> WorkflowHistory:
    """Start the run over HTTP, cancel it if asked, wait for its end and return its workflow history.

    The caller sets `SLOW_SECONDS` to `recording.slow_seconds` (the worker's functions read it).
    """
    body: dict[str, Any] = {
        "mthds_contents": [BUNDLE],
        "pipe_code": recording.pipe_code,
        "inputs": recording.inputs,
        "pipeline_run_id": run_id,
        **recording.extra,
    }
    if recording.run_timeout_seconds is not None:
        body["run_timeout_seconds"] = recording.run_timeout_seconds
    started = await stack.client.post("/v1/start", json=body)
    if started.status_code != 202:
        msg = f"{recording.name}: /v1/start answered {started.status_code}: {started.text}"
        raise RecordingError(msg)
    if recording.cancel:
        await _wait_for_running_activity(temporal, run_id)
        cancel = await stack.client.post(f"/v1/runs/{run_id}/cancel")
        if cancel.status_code != 202:
            msg = f"{recording.name}: cancel answered {cancel.status_code}: {cancel.text}"
            raise RecordingError(msg)
    final = await stack.wait_for_end(run_id, within=60)
    if final["state"] != recording.final_state:
        msg = f"{recording.name}: ended {final['state']}, expected {recording.final_state}"
        raise RecordingError(msg)
    workflow_id = run_workflow_id(SINGLE_TENANT, run_id) + recording.workflow
    return await temporal.get_workflow_handle(workflow_id).fetch_history()


async def _wait_for_running_activity(temporal: Client, run_id: str, within: float = 30) -> None:
    """Until a worker has picked up one of the run's activities (the slow function is running)."""
    handle = temporal.get_workflow_handle(run_workflow_id(SINGLE_TENANT, run_id))
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        pending = (await handle.describe()).raw_description.pending_activities
        if any(
            activity.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
            and activity.activity_type.name == RUN_OPERATOR_ACTIVITY
            for activity in pending
        ):
            return
        await asyncio.sleep(0.05)
    msg = f"no activity of run {run_id} started within {within:g} s"
    raise RecordingError(msg)


async def record_all(
    address: str, data_dir: Path, names: frozenset[str] = frozenset()
) -> dict[str, WorkflowHistory]:
    """Record the representative runs named (all when none) on the server at `address`: name → history."""
    temporal = await connect(address)
    histories: dict[str, WorkflowHistory] = {}
    for recording in (recording for recording in RECORDINGS if not names or recording.name in names):
        os.environ["SLOW_SECONDS"] = str(recording.slow_seconds)
        async with run_stack(
            address, data_dir / recording.name, worker_overrides=recording.worker_overrides
        ) as stack:
            histories[recording.name] = await record(stack, temporal, recording, f"replay-{recording.name}")
    return histories


def main() -> None:
    """Records every run, or only those named as arguments (a new recording beside the old ones)."""
    names = frozenset(sys.argv[1:])
    unknown = names - {recording.name for recording in RECORDINGS}
    if unknown:
        sys.exit(f"no recording named {', '.join(sorted(unknown))}")
    server = start_dev_server(port=free_port())
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            histories = asyncio.run(record_all(server.address, Path(data_dir), names))
    finally:
        server.stop()
    # Written only once every run ended as expected: a failed recording leaves the old files alone.
    HISTORY_DIR.mkdir(parents=True, exist_ok=True)
    for name, history in histories.items():
        path = HISTORY_DIR / f"{name}.json"
        path.write_text(history.to_json() + "\n", encoding="utf-8")
        sys.stdout.write(f"wrote {path.relative_to(HISTORY_DIR.parents[2])}\n")


if __name__ == "__main__":
    main()
