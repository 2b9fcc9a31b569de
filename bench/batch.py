"""Batch throughput: one PipeBatch of N slow items against a plain sliding-window workflow; prints figures,
asserts nothing (issue 14, Speed).

Starts a Temporal dev server on a free loopback port, the API in this process (uvicorn, loopback), and
for each worker count (1, 2, 4) first our worker processes (`python -m worker`), then the baseline's
(`python -m bench.batch_plain`), each on its own task queue, all of one phase together, stopped after it.
Ours: a `PipeBatch` over a `PipeFunc` that sleeps `--latency-ms`, started by `/v1/start`, timed to the
end of its run workflow; the batch runs as a batch workflow over chunk workflows
(docs/design/large-batches.md), `BATCH_WINDOW_CHUNKS` (2) chunks of `BATCH_CHUNK_CONCURRENCY` (32) items
in flight (the worker settings, read from the environment like the workers read them). The baseline
(`bench/batch_plain.py`) runs the same `run_operator` activity over the same items with `--window`
(default the same 64) in flight, continuing-as-new every `--per-history` items.
Each phase prints items/s, how the run ended (a failure's problem code), the longest history of the
run (its run workflow, its batch workflow's histories, its first chunk), and the worker processes'
resident memory; then the ratio
ours/plain (target >= 0.8). A last run of ours over `--large-items` (100,000) prints its time and peak RSS.
Run from the repo root: `.venv/bin/python bench/batch.py [--quick] [--items N] [--workers 1,2,4]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any

import httpx
import uvicorn
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.auth import SINGLE_TENANT, AuthMode
from api.main import create_app
from api.settings import ApiSettings
from bench.batch_functions import LATENCY_ENV, SLOW_ECHO, echoed
from bench.batch_plain import PLAIN_BATCH_WORKFLOW, READY_LINE, WindowJob, item_text
from bench.batch_workers import WorkerGroup, mib, worker_group
from bench.dev_processes import StackError, child_env
from bench.runs import load_average
from shared.runs.names import RUN_OPERATOR_ACTIVITY, batch_workflow_id, chunk_workflow_id, run_workflow_id
from shared.runs.workflow_io import OperatorTask
from shared.runtime.batch_plan import batch_key
from shared.runtime.call_site import DEFAULT_CONCURRENCY
from worker.dev_server import HOST, DevServerError, free_port, start_dev_server
from worker.settings import WorkerSettings
from worker.temporal_connection import connect_when_healthy

FUNCTION_MODULE = "bench.batch_functions"
OUR_QUEUE = "methodflow-bench-batch"
PLAIN_QUEUE = "methodflow-bench-batch-plain"
OUR_READY_LINE = "worker polling task queue"  # what `worker.runner` logs once it polls
ITEM_INPUT = "item"
RATIO_TARGET = 0.8
WARM_UP_ITEMS = 2 * DEFAULT_CONCURRENCY
# Ours keeps `BATCH_WINDOW_CHUNKS` chunk workflows in flight, each `BATCH_CHUNK_CONCURRENCY` items at
# once: the baseline gets the same number of items in flight by default.
_OUR_SETTINGS = WorkerSettings()
OUR_ITEMS_IN_FLIGHT = _OUR_SETTINGS.batch_chunk_concurrency * _OUR_SETTINGS.batch_window_chunks
RUN_DEADLINE_SECONDS = 3 * 3600

BATCH_PATH = "bench_batch.all_items"  # the batch's invocation path: the run's entry pipe
BUNDLE = f"""domain = "bench_batch"
description = "One slow PipeFunc over every item"
main_pipe = "all_items"

[pipe.one_item]
type = "PipeFunc"
description = "Waits, then echoes the item"
inputs = {{ {ITEM_INPUT} = "Text" }}
output = "Text"
function_name = "{SLOW_ECHO}"

[pipe.all_items]
type = "PipeBatch"
description = "Every item through one_item"
inputs = {{ items = "Text[]" }}
output = "Text[]"
branch_pipe_code = "one_item"
input_list_name = "items"
input_item_name = "{ITEM_INPUT}"
"""


class BenchError(RuntimeError):
    """A start was refused or a run's output was wrong; the message says which."""


@dataclass(frozen=True)
class Options:
    items: int
    workers: tuple[int, ...]
    latency_ms: float
    window: int
    per_history: int
    large_items: int


@dataclass(frozen=True)
class OurRun:
    """How one run of ours went: its end, the items whose activity completed, its history."""

    items: int
    elapsed: float
    state: str
    error: dict[str, Any] | None
    items_done: int
    history_events: int
    task: OperatorTask | None

    @property
    def items_per_second(self) -> float:
        return self.items_done / self.elapsed

    def line(self) -> str:
        ended = self.state
        if self.error is not None:
            ended += f" {self.error.get('code')} after {self.items_done:,} of {self.items:,} items"
        return (
            f"  ours   {self.items:>7,} items  {ended}  in {self.elapsed:7.1f} s  "
            f"{self.items_per_second:7.1f} items/s  longest history {self.history_events:,} events"
        )


@dataclass(frozen=True)
class PlainRun:
    items: int
    elapsed: float
    first_history_events: int

    @property
    def items_per_second(self) -> float:
        return self.items / self.elapsed


@contextlib.asynccontextmanager
async def serving_api(
    temporal_address: str,
    data_dir: Path,
    *,
    function_modules: str = FUNCTION_MODULE,
    task_queue: str = OUR_QUEUE,
) -> AsyncGenerator[httpx.AsyncClient]:
    """The API in this process on a free loopback port, and a client speaking to it over real HTTP."""
    settings = ApiSettings(
        temporal_address=temporal_address,
        temporal_task_queue=task_queue,
        data_dir=data_dir,
        storage=None,
        auth_mode=AuthMode.NONE,
        function_modules=function_modules,
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host=HOST, port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    while not server.started:  # uvicorn offers a flag, not an event
        if serving.done():
            await serving  # raises what stopped it
        await asyncio.sleep(0.01)
    try:
        async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=300) as http:
            yield http
    finally:
        server.should_exit = True
        await serving


async def run_ours(http: httpx.AsyncClient, client: Client, items: int) -> OurRun:
    """One batch run of `items` through `/v1/start`, timed to the end of its run workflow."""
    run_id = f"batch-{uuid.uuid4()}"
    body = {
        "mthds_contents": [BUNDLE],
        "inputs": {"items": [item_text(index) for index in range(items)]},
        "pipeline_run_id": run_id,
    }
    began = time.perf_counter()
    started = await http.post("/v1/start", json=body)
    if started.status_code != 202:
        msg = f"/v1/start answered {started.status_code}: {started.text[:500]}"
        raise BenchError(msg)
    handle = client.get_workflow_handle(run_workflow_id(SINGLE_TENANT, run_id))
    await asyncio.wait_for(handle.result(), RUN_DEADLINE_SECONDS)
    elapsed = time.perf_counter() - began
    status = (await http.get(f"/v1/runs/{run_id}/status")).json()
    # The batch left the run workflow: a batch workflow ran it over chunk workflows.
    batch_id = batch_workflow_id(handle.id, batch_key(BATCH_PATH))
    lengths = [len([event async for event in handle.fetch_history_events()])]
    async for execution in client.list_workflows(f'WorkflowId = "{batch_id}"'):
        batch_run = client.get_workflow_handle(batch_id, run_id=execution.run_id)
        lengths.append(len([event async for event in batch_run.fetch_history_events()]))
    chunk = client.get_workflow_handle(chunk_workflow_id(batch_id, 0))
    chunk_events = [event async for event in chunk.fetch_history_events()]
    lengths.append(len(chunk_events))
    _, task = await _operator_steps(client, chunk_events)
    progress: dict[str, Any] = status.get("progress") or {}
    batch: dict[str, Any] = progress.get("batch") or {}
    done = items if status["state"] == "COMPLETED" else int(batch.get("done") or 0)
    if status["state"] == "COMPLETED":
        await _check_outputs(http, run_id, items)
    return OurRun(items, elapsed, status["state"], status.get("error"), done, max(lengths), task)


async def _operator_steps(client: Client, events: list[HistoryEvent]) -> tuple[int, OperatorTask | None]:
    """The `run_operator` activities of a history that completed, and the first one's task."""
    scheduled: set[int] = set()
    first: OperatorTask | None = None
    completed = 0
    for event in events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            attributes = event.activity_task_scheduled_event_attributes
            if attributes.activity_type.name == RUN_OPERATOR_ACTIVITY:
                scheduled.add(event.event_id)
                if first is None:
                    [first] = await client.data_converter.decode(attributes.input.payloads, [OperatorTask])
        elif event.HasField("activity_task_completed_event_attributes"):
            completed += event.activity_task_completed_event_attributes.scheduled_event_id in scheduled
    return completed, first


async def _check_outputs(http: httpx.AsyncClient, run_id: str, items: int) -> None:
    response = await http.get(f"/v1/runs/{run_id}/results?artifacts=main_stuff")
    if response.status_code != 200:
        msg = f"/results of {run_id} answered {response.status_code}: {response.text[:500]}"
        raise BenchError(msg)
    outputs = response.json()["main_stuff"]["items"]
    expected = [{"text": echoed(item_text(index))} for index in range(items)]
    if outputs != expected:
        msg = f"run {run_id} answered {len(outputs)} outputs, not the {items} expected in order"
        raise BenchError(msg)


async def run_plain(client: Client, task: OperatorTask, items: int, options: Options) -> PlainRun:
    """One baseline run over `items`, timed from its start to the end of its last history."""
    workflow_id = f"plain-batch-{uuid.uuid4()}"
    job = WindowJob(
        task=task.model_copy(update={"run_id": workflow_id}),
        item_input=ITEM_INPUT,
        items=items,
        window=options.window,
        per_history=options.per_history,
        policy=WorkerSettings().activity_policy(),
    )
    began = time.perf_counter()
    handle = await client.start_workflow(PLAIN_BATCH_WORKFLOW, job, id=workflow_id, task_queue=PLAIN_QUEUE)
    done = await asyncio.wait_for(handle.result(), RUN_DEADLINE_SECONDS)
    elapsed = time.perf_counter() - began
    if done != items:
        msg = f"the baseline {workflow_id} answered {done} items done, not {items}"
        raise BenchError(msg)
    first = client.get_workflow_handle(workflow_id, run_id=handle.first_execution_run_id)
    history = (await first.describe()).raw_description.workflow_execution_info.history_length
    return PlainRun(items, elapsed, history)


def rss_line(group: WorkerGroup) -> str:
    """Resident memory per worker process: at start and peak, the largest over the phase's processes."""
    start, peak = group.rss_at_start_kib, group.peak_rss_kib()
    if not start or not peak:
        return "         worker RSS unknown (no /proc)"
    return (
        f"         worker RSS per process: {mib(max(start)):6.1f} MiB at start, "
        f"peak {mib(max(peak)):6.1f} MiB (largest of {len(peak)})"
    )


class Phases:
    """Every phase of the benchmark against one dev server and one API."""

    def __init__(self, client: Client, http: httpx.AsyncClient, options: Options, data_dir: Path) -> None:
        self.client = client
        self.http = http
        self.options = options
        self.log_dir = data_dir
        env = {**child_env(data_dir), LATENCY_ENV: f"{options.latency_ms:g}", "LOG_LEVEL": "INFO"}
        env.update(FUNCTION_MODULES=FUNCTION_MODULE, TEMPORAL_ADDRESS=self._address(client))
        self.our_env = {**env, "TEMPORAL_TASK_QUEUE": OUR_QUEUE}
        self.plain_env = {**env, "TEMPORAL_TASK_QUEUE": PLAIN_QUEUE}
        self.task: OperatorTask | None = None

    @staticmethod
    def _address(client: Client) -> str:
        return client.service_client.config.target_host

    async def ours(self, workers: int, items: int) -> tuple[OurRun, WorkerGroup]:
        command = [sys.executable, "-m", "worker"]
        with worker_group(command, workers, self.our_env, self.log_dir, OUR_READY_LINE) as group:
            warm_up = await run_ours(self.http, self.client, WARM_UP_ITEMS)
            self.task = self.task or warm_up.task
            result = await run_ours(self.http, self.client, items)
            print(result.line())
            if result.error is not None:
                print(f"         {result.error.get('detail')}")
            print(rss_line(group))
        return result, group

    async def plain(self, workers: int, items: int) -> PlainRun:
        if self.task is None:
            msg = "no run_operator task was recorded from our warm-up run"
            raise BenchError(msg)
        command = [sys.executable, "-m", "bench.batch_plain", PLAIN_QUEUE]
        with worker_group(command, workers, self.plain_env, self.log_dir, READY_LINE) as group:
            await run_plain(self.client, self.task, WARM_UP_ITEMS, self.options)
            result = await run_plain(self.client, self.task, items, self.options)
            print(
                f"  plain  {items:>7,} items  COMPLETED  in {result.elapsed:7.1f} s  "
                f"{result.items_per_second:7.1f} items/s  first history {result.first_history_events:,} "
                f"events ({self.options.per_history:,} items a history)"
            )
            print(rss_line(group))
        return result

    async def compare(self, workers: int) -> None:
        print(f"{workers} worker process{'es' if workers > 1 else ''}:")
        ours, _ = await self.ours(workers, self.options.items)
        plain = await self.plain(workers, self.options.items)
        ratio = ours.items_per_second / plain.items_per_second
        verdict = "met" if ratio >= RATIO_TARGET else "MISSED"
        caveat = "" if ours.state == "COMPLETED" else f"; ours did not complete ({ours.state})"
        print(f"  ratio ours/plain (items/s) {ratio:5.2f}  (target >= {RATIO_TARGET}: {verdict}{caveat})")

    async def large(self, workers: int) -> None:
        items = self.options.large_items
        print(f"large run: {items:,} items, {workers} worker processes (ours only)")
        await self.ours(workers, items)


async def bench(options: Options, data_dir: Path, log: IO[bytes]) -> None:
    server = start_dev_server(port=free_port(), log=log, die_with_parent=True)
    try:
        client = await connect_when_healthy(server.address)
        async with serving_api(server.address, data_dir) as http:
            print(f"Temporal dev server {server.address}, API {http.base_url}")
            phases = Phases(client, http, options, data_dir)
            for workers in options.workers:
                await phases.compare(workers)
            if options.large_items:
                await phases.large(max(options.workers))
    finally:
        server.stop()


def parse_options() -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="500 items, 1 and 2 workers, no large run")
    parser.add_argument("--items", type=int, help="items per batch (default 10,000)")
    parser.add_argument("--workers", help="worker process counts, comma-separated (default 1,2,4)")
    parser.add_argument("--latency-ms", type=float, default=50, help="the function's wait (default 50)")
    parser.add_argument(
        "--window", type=int, default=OUR_ITEMS_IN_FLIGHT, help="baseline items in flight (default: ours)"
    )
    parser.add_argument("--per-history", type=int, default=1000, help="baseline items per history")
    parser.add_argument("--large-items", type=int, help="the last run of ours (default 100,000; 0 skips)")
    given = parser.parse_args()
    workers = given.workers or ("1,2" if given.quick else "1,2,4")
    return Options(
        items=given.items or (500 if given.quick else 10_000),
        workers=tuple(int(count) for count in workers.split(",")),
        latency_ms=given.latency_ms,
        window=given.window,
        per_history=given.per_history,
        large_items=given.large_items if given.large_items is not None else (0 if given.quick else 100_000),
    )


def main() -> None:
    options = parse_options()
    # SIGTERM (a timeout, a CI cancel) unwinds like Ctrl-C, so every process below is stopped.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    print(
        f"batch bench: {options.items:,} items, {options.latency_ms:g} ms each, workers "
        f"{','.join(map(str, options.workers))}; ours {OUR_ITEMS_IN_FLIGHT} in flight per run, plain "
        f"window {options.window}; {load_average()}"
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="methodflow-bench-batch-") as directory:
        data_dir = Path(directory)
        log_path = data_dir / "temporal.log"
        with log_path.open("ab") as log:
            try:
                asyncio.run(bench(options, data_dir, log))
            except (BenchError, StackError, DevServerError) as exc:
                print(f"error: {exc}")
                raise SystemExit(1) from exc
    print(f"bench took {time.perf_counter() - started:.1f} s, {load_average()} at the end")


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    main()
