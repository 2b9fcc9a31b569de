"""Live progress of a batch that runs as a batch workflow (issue 14), over a real Temporal dev server and
real HTTP: `/status` and `/progress` show its counters growing while it runs and its exact final counts
after; the event stream carries coalesced `batch.progress` events (at most one a second, without an SSE
id) between the log's own start and final ones.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import uuid
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from shared.runtime.function_registry import DEFAULT_REGISTRY, pipe_function
from shared.runtime.stuff import Stuff
from tests.helpers.run_stack import RunStack, run_stack
from tests.helpers.sse import SseFrame, sse_frames

SLOW_OR_BAD = "tests.batch_progress.slow_or_bad"
TOTAL = 2000
BAD = 10  # every 200th item fails, and is collected
PATH = "checks.check_all"
CHECKS = f"""domain = "checks"
main_pipe = "check_all"

[pipe.check_all]
type = "PipeBatch"
description = "Checks every item"
inputs = {{ items = "Text[]" }}
output = "Text[]"
branch_pipe_code = "check_one"
input_list_name = "items"
input_item_name = "item"

[pipe.check_one]
type = "PipeFunc"
description = "Checks one item"
inputs = {{ item = "Text" }}
output = "Text"
function_name = "{SLOW_OR_BAD}"
"""


async def slow_or_bad(inputs: Mapping[str, Stuff]) -> dict[str, Any]:
    """Waits SLOW_SECONDS, then fails a `bad…` item and echoes any other."""
    await asyncio.sleep(float(os.environ.get("SLOW_SECONDS", "0")))
    text = next(iter(inputs.values())).content.get("text", "")
    if text.startswith("bad"):
        msg = f"the item {text} is marked bad"
        raise ValueError(msg)
    return {"text": f"{text}+"}


if DEFAULT_REGISTRY.get(SLOW_OR_BAD) is None:
    pipe_function(SLOW_OR_BAD)(slow_or_bad)


def _items() -> list[str]:
    return [f"bad-{index}" if index % (TOTAL // BAD) == 0 else f"ok-{index}" for index in range(TOTAL)]


async def _poll_counters(stack: RunStack, run_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The batch counters `/status` and `/progress` show while the run goes on, read in turn until it ends."""
    status_readings: list[dict[str, Any]] = []
    progress_readings: list[dict[str, Any]] = []
    deadline = asyncio.get_running_loop().time() + 300
    while asyncio.get_running_loop().time() < deadline:
        status = (await stack.client.get(f"/v1/runs/{run_id}/status")).json()
        if status["state"] in ("COMPLETED", "FAILED", "CANCELLED"):
            return status_readings, progress_readings
        if status["progress"]["batch"] is not None:
            status_readings.append(status["progress"]["batch"])
        progress = (await stack.client.get(f"/v1/runs/{run_id}/progress")).json()
        if progress["mode"] == "live" and progress["counters"]["batch"] is not None:
            progress_readings.append(progress["counters"]["batch"])
            # The batch's own invocation entry carries the same live counts (§9.5 `batch`).
            [entry] = [item for item in progress["invocations"] if item["path"] == PATH]
            counts = {
                key: progress["counters"]["batch"][key] for key in ("total", "done", "running", "failed")
            }
            assert entry["batch"] == counts
        await asyncio.sleep(0.3)
    msg = f"run {run_id} did not end within 300 s"
    raise AssertionError(msg)


async def _read_stream(stack: RunStack, run_id: str) -> tuple[list[SseFrame], float]:
    """Every event of the run's stream, and how long the stream stayed open (seconds)."""
    loop = asyncio.get_running_loop()
    opened = loop.time()
    async with stack.client.stream("GET", f"/v1/runs/{run_id}/events", timeout=330) as response:
        assert response.status_code == 200
        frames = [frame async for frame in sse_frames(response) if frame.event is not None]
    return frames, loop.time() - opened


def _growing(readings: list[dict[str, Any]]) -> list[int]:
    """The distinct `done` counts read while items were still left, in reading order."""
    done = [reading["done"] for reading in readings if 0 < reading["done"] < TOTAL - BAD]
    return sorted(set(done), key=done.index)


def _at(frame: SseFrame) -> datetime:
    return datetime.fromisoformat(frame.data["at"])


@pytest.mark.timeout(420)
async def test_a_2000_item_batch_shows_live_counts_then_its_exact_final_ones(
    temporal_address: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLOW_SECONDS", "0.05")
    run_id = f"batch-progress-{uuid.uuid4()}"
    # 100 chunks of 20 items: the batch workflow's counters move a chunk at a time.
    async with run_stack(temporal_address, tmp_path, worker_overrides={"batch_chunk_items": 20}) as stack:
        body = {
            "mthds_contents": [CHECKS],
            "inputs": {"items": _items()},
            "pipeline_run_id": run_id,
            "batch_failures": "collect",
        }
        started = await stack.client.post("/v1/start", json=body)
        assert started.status_code == 202, started.text
        (status_readings, progress_readings), (frames, open_seconds) = await asyncio.gather(
            _poll_counters(stack, run_id), _read_stream(stack, run_id)
        )
        final_status = (await stack.client.get(f"/v1/runs/{run_id}/status")).json()
        final_progress = (await stack.client.get(f"/v1/runs/{run_id}/progress")).json()
        resumed = await _read_stream(stack, run_id)

    exact = {
        "path": PATH,
        "pipe_code": "check_all",
        "total": TOTAL,
        "done": TOTAL - BAD,
        "running": 0,
        "failed": BAD,
    }
    # /status: the batch counters grow while the run goes on (not 0 until the end), then stay exact.
    assert final_status["state"] == "COMPLETED", final_status
    assert len(_growing(status_readings)) >= 3, status_readings
    assert all(reading["path"] == PATH and reading["total"] == TOTAL for reading in status_readings)
    assert any(reading["running"] > 0 for reading in status_readings), status_readings
    assert final_status["progress"]["batch"] == exact
    # /progress: the same counters.
    assert len(_growing(progress_readings)) >= 3, progress_readings
    assert final_progress["counters"]["batch"] == exact
    [batch_item] = [item for item in final_progress["invocations"] if item["path"] == PATH]
    assert batch_item["batch"] == {"total": TOTAL, "done": TOTAL - BAD, "running": 0, "failed": BAD}

    # The stream: the log's events keep their ids (seq 1, 2, …) whatever live events came between.
    logged = [frame for frame in frames if frame.id is not None]
    assert [int(frame.id or "0") for frame in logged] == list(range(1, len(logged) + 1))
    assert logged[-1].event == "run.finished"
    logged_batch = [frame.data for frame in logged if frame.event == "batch.progress"]
    assert [(data["done"], data["failed"]) for data in logged_batch] == [(0, 0), (TOTAL - BAD, BAD)]
    live = [frame for frame in frames if frame.id is None]
    assert {frame.event for frame in live} == {"batch.progress"}
    assert all(frame.data["live"] is True and frame.data["path"] == PATH for frame in live)
    live_done = [frame.data["done"] for frame in live]
    assert live_done == sorted(live_done)
    assert len(set(live_done)) >= 3, live_done
    # Coalesced by the server: at most one a second for the batch, however many chunks ended.
    gaps = [(_at(later) - _at(earlier)).total_seconds() for earlier, later in itertools.pairwise(live)]
    assert all(gap >= 0.95 for gap in gaps), gaps
    assert len(live) <= open_seconds + 1, (len(live), open_seconds)
    # A live event follows the log's last event it saw, and comes before the log's final count.
    final_batch_at = next(
        index for index, frame in enumerate(frames) if frame.id and frame.data.get("done") == TOTAL - BAD
    )
    assert all(frames.index(frame) < final_batch_at for frame in live)

    # Resumed after the end: the log only, live events are not replayed.
    replayed, _ = resumed
    assert [frame.id for frame in replayed] == [frame.id for frame in logged]
