"""Chaos over a large batch: three worker processes, one killed with SIGKILL every few seconds and
replaced, while a 3,000-item batch (a batch workflow over chunk workflows) and 30 short runs go on.

Every run completes; the batch's outputs come back in input order; its final counters are exact; and no
item or step whose completion Temporal had recorded ran again. Each counted step records `(text,
activity attempt)` when its body completes (`counted_echo`), and before each kill the test notes the
texts Temporal has recorded as completed (the items of completed chunk workflows, the finished steps of
the short runs) with their lines so far: those lines must be the same at the end. Attempt 2+ lines of
other texts are legitimate retries of work in flight at a kill (as in `test_worker_crash.py`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from api.auth import SINGLE_TENANT
from shared.runs.batch_io import BatchProgress
from shared.runs.names import batch_workflow_id, run_workflow_id
from shared.runs.workflow_io import RunEnd
from shared.runtime.batch_plan import batch_key, chunk_range
from tests.helpers.function_bundles import batch_bundle
from tests.helpers.run_functions import COUNTED, read_counted
from tests.helpers.run_stack import RunStack, run_stack
from tests.helpers.worker_process import (
    POLLING_LINE,
    WorkerProcess,
    WorkerProcesses,
    worker_environment,
    worker_processes,
)
from worker.temporal_connection import connect

logger = logging.getLogger(__name__)

ITEMS = 3000
CHUNK_ITEMS = 100
SHORT_RUNS = 30
SHORT_STEPS = 2
WORKERS = 3
CHAOS_SECONDS = 45
KILL_EVERY_SECONDS = 5
# Enough kills must land while the batch runs for the test to mean anything.
KILLS_AT_LEAST = 5
# Each item's step sleeps this long and a worker runs this many at once, so the batch takes at least
# ITEMS * SLOW_SECONDS / (WORKERS * ACTIVITY_SLOTS) = 37.5 s however fast the machine: it outlasts
# KILLS_AT_LEAST kills. (On a loaded 2-core machine the CPU bounds it first, at about 40 items/s.)
SLOW_SECONDS = "0.3"
ACTIVITY_SLOTS = 8
# After the chaos, every run ends within this (here the batch ends 15-40 s after the last kill). A kill
# that lands inside one of the batch's storage activities (load_items, store_chunk_output...: no heartbeat
# timeout, a 5-minute start-to-close) stalls its chunk for those 5 minutes: the test fails here then,
# naming the pending activity and the killed worker that held it.
DRAIN_SECONDS = 90

BATCH_BUNDLE = batch_bundle(COUNTED, "chaos")

SHORT_BUNDLE = f"""domain = "chaos"
main_pipe = "twice"

[pipe.echo_first]
type = "PipeFunc"
description = "Slow counted echo"
inputs = {{ name = "Text" }}
output = "Text"
function_name = "{COUNTED}"

[pipe.echo_second]
type = "PipeFunc"
description = "Slow counted echo"
inputs = {{ first = "Text" }}
output = "Text"
function_name = "{COUNTED}"

[pipe.twice]
type = "PipeSequence"
description = "Two slow steps, the second echoing the first"
inputs = {{ name = "Text" }}
output = "Text"
steps = [{{ pipe = "echo_first", result = "first" }}, {{ pipe = "echo_second", result = "second" }}]
"""

Line = tuple[str, int]


def item_text(index: int) -> str:
    return f"item-{index:04d}"


def short_text(name: str, step: int) -> str:
    """The text step `step` (1-based) of short run `name` receives, hence records."""
    return name + "+" * (step - 1)


def complete_lines(path: Path) -> list[Line]:
    """The counter's lines so far, leaving out a last line still being written (no newline yet)."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    whole = text[: text.rfind("\n") + 1]
    return [(line, int(attempt)) for line, _, attempt in (row.rpartition("\t") for row in whole.splitlines())]


def by_text(lines: list[Line]) -> dict[str, Counter[Line]]:
    grouped: dict[str, Counter[Line]] = {}
    for line in lines:
        grouped.setdefault(line[0], Counter())[line] += 1
    return grouped


@dataclass
class Chaos:
    """The runs under test and what the chaos did to them: kills, and the lines frozen before each."""

    stack: RunStack
    temporal: Client
    workers: WorkerProcesses
    counter: Path
    batch_run: str
    rng: random.Random
    short_runs: list[str] = field(default_factory=list[str])
    kills: list[str] = field(default_factory=list[str])
    kills_while_batch_ran: int = 0
    # Per text Temporal had recorded as completed before some kill: its counter lines at that moment.
    frozen: dict[str, Counter[Line]] = field(default_factory=dict[str, Counter[Line]])

    @property
    def batch_workflow(self) -> str:
        return batch_workflow_id(run_workflow_id(SINGLE_TENANT, self.batch_run), batch_key("chaos.echo_all"))

    async def start(self, run_id: str, bundle: str, inputs: dict[str, Any]) -> None:
        body = {"mthds_contents": [bundle], "inputs": inputs, "pipeline_run_id": run_id}
        answer = await self.stack.client.post("/v1/start", json=body)
        assert answer.status_code == 202, answer.text

    async def start_short_runs(self, count: int) -> None:
        names = [f"short-{len(self.short_runs) + offset:02d}" for offset in range(count)]
        self.short_runs.extend(names)
        await asyncio.gather(*(self.start(name, SHORT_BUNDLE, {"name": name}) for name in names))

    async def settled_texts(self) -> set[str]:
        """The texts whose step Temporal has recorded as completed: items of completed chunks, finished
        steps of short runs. (Visibility may lag behind: it can only leave texts out.)"""
        texts: set[str] = set()
        query = f'WorkflowId STARTS_WITH "{self.batch_workflow}/chunk/" AND ExecutionStatus = "Completed"'
        async for chunk in self.temporal.list_workflows(query):
            index = int(chunk.id.rpartition("/")[2])
            texts.update(item_text(item) for item in chunk_range(index, ITEMS, CHUNK_ITEMS))
        for name, status in zip(self.short_runs, await self.statuses(self.short_runs), strict=True):
            steps = SHORT_STEPS if status.get("state") == "COMPLETED" else 0
            steps = max(steps, min(status.get("progress", {}).get("pipes_done", 0), SHORT_STEPS))
            texts.update(short_text(name, step) for step in range(1, steps + 1))
        return texts

    async def statuses(self, run_ids: list[str]) -> list[dict[str, Any]]:
        answers = await asyncio.gather(*(self.stack.client.get(f"/v1/runs/{run}/status") for run in run_ids))
        return [answer.json() if answer.status_code == 200 else {} for answer in answers]

    async def freeze_settled(self) -> None:
        """Note the lines of every settled text, read after Temporal recorded its completion."""
        settled = await self.settled_texts()
        lines = by_text(complete_lines(self.counter))
        for text in settled:
            self.frozen.setdefault(text, lines.get(text, Counter()))

    async def kill_one(self) -> None:
        polling = [worker for worker in self.alive() if POLLING_LINE in worker.log()]
        victim = self.rng.choice(polling or self.alive())
        (batch,) = await self.statuses([self.batch_run])
        victim.kill()
        self.kills.append(f"{victim.log_path.name} (pid {victim.process.pid})")
        if batch.get("state") == "RUNNING":
            self.kills_while_batch_ran += 1
        logger.info(
            "killed %s; batch %s, %s texts settled", self.kills[-1], batch.get("state"), len(self.frozen)
        )
        self.workers.start()

    def alive(self) -> list[WorkerProcess]:
        return [worker for worker in self.workers.started if worker.process.poll() is None]

    async def rage(self) -> None:
        """Kill a random worker every few seconds for the chaos window, a replacement each time, and
        start the short runs in waves across it."""
        ticks = CHAOS_SECONDS // KILL_EVERY_SECONDS
        wave = SHORT_RUNS // (ticks + 1)
        await self.start_short_runs(wave)
        for tick in range(1, ticks + 1):
            await asyncio.sleep(KILL_EVERY_SECONDS)
            await self.freeze_settled()
            await self.kill_one()
            await self.start_short_runs(SHORT_RUNS - len(self.short_runs) if tick == ticks else wave)

    async def wait_for_end(self, run_id: str, deadline: float) -> dict[str, Any]:
        """Poll the run's status until it ends; past the deadline, fail naming what is stuck."""
        while True:
            (status,) = await self.statuses([run_id])
            if status.get("state") in ("COMPLETED", "FAILED", "CANCELLED"):
                return status
            if asyncio.get_running_loop().time() > deadline:
                msg = (
                    f"run {run_id} did not end: {status}; still running: {await self.stuck()}; "
                    f"workers killed: {self.kills}"
                )
                raise AssertionError(msg)
            await asyncio.sleep(0.5)

    async def stuck(self) -> list[str]:
        """Every workflow of the queue still running, with its pending activities."""
        found: list[str] = []
        query = f'TaskQueue = "{self.stack.task_queue}" AND ExecutionStatus = "Running"'
        async for execution in self.temporal.list_workflows(query):
            described = await self.temporal.get_workflow_handle(execution.id).describe()
            pending = [
                f"{activity.activity_type.name} attempt {activity.attempt} on {activity.last_worker_identity}"
                f" since {activity.last_started_time.ToJsonString()}"
                for activity in described.raw_description.pending_activities
            ]
            found.append(f"{execution.id} {pending}")
        return found


async def read_items(stack: RunStack, run_id: str) -> list[Any]:
    """The run's list output, read a page of 1,000 at a time."""
    items: list[Any] = []
    offset: int | None = 0
    while offset is not None:
        page = await stack.client.get(f"/v1/runs/{run_id}/results/items?offset={offset}&limit=1000")
        assert page.status_code == 200, page.text
        assert page.json()["total"] == ITEMS
        items.extend(page.json()["items"])
        offset = page.json()["next_offset"]
    return items


@pytest.mark.timeout(300)
async def test_a_large_batch_and_short_runs_survive_workers_killed_every_few_seconds(
    temporal_address: str, tmp_path: Path
) -> None:
    counter = tmp_path / "counter.txt"
    temporal = await connect(temporal_address)
    seed = uuid.uuid4().int
    logger.info("chaos seed %s", seed)
    async with run_stack(temporal_address, tmp_path, worker=False) as stack:
        env = worker_environment(
            temporal_address,
            stack.task_queue,
            tmp_path,
            FUNCTION_MODULES="tests.helpers.run_functions",
            SLOW_SECONDS=SLOW_SECONDS,
            COUNTER_FILE=str(counter),
            WORKER_MAX_CONCURRENT_ACTIVITIES=str(ACTIVITY_SLOTS),
            BATCH_CHUNK_ITEMS=str(CHUNK_ITEMS),
            # An activity of a dead worker is noticed by its missing heartbeats and retried soon.
            PIPE_ACTIVITY_HEARTBEAT_SECONDS="4",
            PIPE_ACTIVITY_INITIAL_INTERVAL_SECONDS="0.2",
            PIPE_ACTIVITY_MAX_INTERVAL_SECONDS="1",
            # The workflows cached by a dead worker move to another after 1 s.
            WORKER_STICKY_TIMEOUT_SECONDS="1",
        )
        with worker_processes(env, tmp_path) as workers:
            first = [workers.start() for _ in range(WORKERS)]
            for worker in first:
                await worker.wait_polling()
            chaos = Chaos(
                stack,
                temporal,
                workers,
                counter,
                f"chaos-{uuid.uuid4()}",
                random.Random(seed),  # noqa: S311 -- picks victims, not secrets; seeded to be replayed
            )
            items = [item_text(index) for index in range(ITEMS)]
            await chaos.start(chaos.batch_run, BATCH_BUNDLE, {"items": items})
            await chaos.rage()
            for worker in chaos.alive():
                await worker.wait_polling()

            deadline = asyncio.get_running_loop().time() + DRAIN_SECONDS
            batch_status = await chaos.wait_for_end(chaos.batch_run, deadline)
            logger.info("batch ended %s", batch_status["state"])
            short_statuses = [await chaos.wait_for_end(name, deadline) for name in chaos.short_runs]
            run_end = await temporal.get_workflow_handle(
                run_workflow_id(SINGLE_TENANT, chaos.batch_run), result_type=RunEnd
            ).result()
            # A query on a closed workflow is answered by a worker replaying it: one must be alive.
            batch_progress = await temporal.get_workflow_handle(chaos.batch_workflow).query(
                "batch_progress", result_type=BatchProgress
            )

        logger.info("kills: %s (%s while the batch ran)", chaos.kills, chaos.kills_while_batch_ran)
        assert chaos.kills_while_batch_ran >= KILLS_AT_LEAST, chaos.kills
        assert batch_status["state"] == "COMPLETED", batch_status
        assert [status["state"] for status in short_statuses] == ["COMPLETED"] * SHORT_RUNS, short_statuses
        assert await read_items(stack, chaos.batch_run) == [{"text": f"{item}+"} for item in items]
        for name in chaos.short_runs:
            results = await stack.client.get(f"/v1/runs/{name}/results")
            assert results.status_code == 200, results.text
            assert results.json()["main_stuff"] == {"text": name + "+" * SHORT_STEPS}

    # Exact final counters: the run's last batch event and the batch workflow's own query.
    assert run_end.progress is not None
    batch_events = [event.data for event in run_end.progress.events if event.event == "batch.progress"]
    assert batch_events, run_end.progress.events
    assert (batch_events[-1]["total"], batch_events[-1]["done"], batch_events[-1]["failed"]) == (
        ITEMS,
        ITEMS,
        0,
    )
    assert (batch_progress.total, batch_progress.done, batch_progress.failed, batch_progress.in_flight) == (
        ITEMS,
        ITEMS,
        0,
        0,
    )

    lines = read_counted(counter)
    # Every text ran, and no execution repeated: each (text, attempt) once.
    expected = set(items) | {short_text(name, step) for name in chaos.short_runs for step in (1, 2)}
    assert {text for text, _ in lines} == expected
    repeated = [line for line, count in Counter(lines).items() if count > 1]
    assert not repeated, repeated
    # What Temporal had recorded as completed before a kill never ran again: the same lines at the end.
    final = by_text(lines)
    ran_again = {
        text: (sorted(before), sorted(final[text]))
        for text, before in chaos.frozen.items()
        if not before or final[text] != before
    }
    assert not ran_again, ran_again
    # Retries are the work in flight at the kills: at most one worker's slots per kill, and some at all.
    retried = {text for text, attempt in lines if attempt >= 2}
    assert 1 <= len(retried) <= len(chaos.kills) * ACTIVITY_SLOTS, (len(retried), chaos.kills)
    logger.info("%s texts retried, %s checked as frozen before a kill", len(retried), len(chaos.frozen))
