"""Durable-run throughput against `methodflow dev`; prints figures, asserts nothing (issue 4, Speed).

Starts `methodflow dev` (its own Temporal dev server, worker process and API) on free loopback ports
with a temporary DATA_DIR, plus a baseline worker (`bench/plain_workflow.py`), then measures:
1. `/v1/start` acceptance: p50/p99 of sequential starts (target p50 <= 15 ms), starts/s of a burst,
   and the baseline's bare `client.start_workflow` in the same conditions for reference;
2. completed runs/s of a 3-step PipeFunc sequence through `/v1/execute`, at concurrency 8 and 32;
3. the same three `run_operator` activities in a plain hand-made workflow, started with
   `client.execute_workflow` on the same server at the same concurrencies, in ABBA order with ours;
   ratio target >= 0.8. Each phase also prints the CPU seconds each process used.

End to end is `/v1/execute`: one call covers validation, the start, the whole run and the result,
and the answer arrives by the API's long poll on the workflow result, as `execute_workflow` does for
the baseline; polling `/results` would add its own interval to every run and load to the server.
Run from the repo root: `.venv/bin/python bench/runs.py [--quick] [--runs N]`."""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.auth import SINGLE_TENANT
from bench.dev_processes import PLAIN_QUEUE, CpuMeter, Stack, StackError, cpu_line, running_stack
from bench.plain_workflow import PLAIN_WORKFLOW
from bench.run_functions import BUMP
from shared.runs.names import RUN_OPERATOR_ACTIVITY, run_workflow_id
from shared.runs.workflow_io import OperatorAnswer, OperatorTask
from worker.settings import WorkerSettings

CONCURRENCIES = (8, 32)
BURST_CONCURRENCY = 32
DRAIN_CONCURRENCY = 64
WARM_UP_RUNS = 5
START_TARGET_MS = 15
RATIO_TARGET = 0.8

BUNDLE = f"""domain = "bench_runs"
description = "Three PipeFunc steps in a row"
main_pipe = "three_steps"

[pipe.three_steps]
type = "PipeSequence"
description = "Bumps a text three times"
inputs = {{ text = "Text" }}
output = "Text"
steps = [
  {{ pipe = "step_one", result = "one" }},
  {{ pipe = "step_two", result = "two" }},
  {{ pipe = "step_three", result = "three" }},
]

[pipe.step_one]
type = "PipeFunc"
description = "Bumps"
inputs = {{ text = "Text" }}
output = "Text"
function_name = "{BUMP}"

[pipe.step_two]
type = "PipeFunc"
description = "Bumps"
inputs = {{ one = "Text" }}
output = "Text"
function_name = "{BUMP}"

[pipe.step_three]
type = "PipeFunc"
description = "Bumps"
inputs = {{ two = "Text" }}
output = "Text"
function_name = "{BUMP}"
"""
INPUT_TEXT = "go"
EXPECTED_TEXT = "go+++"
RUN_BODY: dict[str, Any] = {"mthds_contents": [BUNDLE], "inputs": {"text": INPUT_TEXT}}


class BenchError(RuntimeError):
    """The stack did not come up, or a run did not end as expected; the message says which."""


@dataclass(frozen=True)
class Sizes:
    runs: int
    sequential_starts: int
    burst_starts: int


FULL = Sizes(runs=200, sequential_starts=300, burst_starts=200)
QUICK = Sizes(runs=64, sequential_starts=100, burst_starts=64)


def quantile_ms(durations: list[float], percent: int) -> float:
    return statistics.quantiles(durations, n=100, method="inclusive")[percent - 1] * 1000


async def at_concurrency(
    count: int, concurrency: int, one: Callable[[int], Awaitable[None]]
) -> tuple[float, list[float]]:
    """Run `one(0..count-1)` on `concurrency` lanes; the elapsed seconds and each call's duration."""
    indexes = iter(range(count))
    durations: list[float] = []

    async def lane() -> None:
        for index in indexes:  # one iterator shared by the lanes: each index runs once
            begin = time.perf_counter()
            await one(index)
            durations.append(time.perf_counter() - begin)

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return time.perf_counter() - started, durations


async def execute_ours(http: httpx.AsyncClient) -> str:
    """One run through `/v1/execute`; its run id, once checked complete with the expected output."""
    response = await http.post("/v1/execute", json=RUN_BODY)
    if response.status_code != 200:
        msg = f"/v1/execute answered {response.status_code}: {response.text[:500]}"
        raise BenchError(msg)
    body = response.json()
    root = body["pipe_output"]["working_memory"]["root"]
    text = root[body["main_stuff_name"]]["content"]["text"]
    if body["state"] != "COMPLETED" or text != EXPECTED_TEXT:
        msg = f"the run {body['pipeline_run_id']} ended {body['state']} with {text!r}"
        raise BenchError(msg)
    return str(body["pipeline_run_id"])


async def start_ours(http: httpx.AsyncClient, run_ids: list[str]) -> None:
    response = await http.post("/v1/start", json=RUN_BODY)
    if response.status_code != 202:
        msg = f"/v1/start answered {response.status_code}: {response.text[:500]}"
        raise BenchError(msg)
    run_ids.append(str(response.json()["workflow_id"]))  # drained through Temporal by workflow id


async def recorded_tasks(client: Client, workflow_id: str) -> list[OperatorTask]:
    """The `run_operator` inputs our run workflow `workflow_id` scheduled, in order."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    tasks: list[OperatorTask] = []
    for event in history.events:
        if not event.HasField("activity_task_scheduled_event_attributes"):
            continue
        attributes = event.activity_task_scheduled_event_attributes
        if attributes.activity_type.name == RUN_OPERATOR_ACTIVITY:
            [task] = await client.data_converter.decode(attributes.input.payloads, [OperatorTask])
            tasks.append(task)
    if len(tasks) != 3:
        msg = f"run {workflow_id} scheduled {len(tasks)} run_operator activities, not 3"
        raise BenchError(msg)
    return tasks


class PlainRuns:
    """Starts baseline runs: the recorded tasks under a fresh run id, the worker's activity policy."""

    def __init__(self, client: Client, recorded: list[OperatorTask], recorded_run_id: str) -> None:
        self.client = client
        self.recorded = recorded
        self.recorded_run_id = recorded_run_id
        self.policy = WorkerSettings().activity_policy()

    def _tasks(self, run_id: str) -> list[OperatorTask]:
        """The recorded tasks as our workflow would send them for `run_id` (its seeds name the run)."""
        return [
            task.model_copy(
                update={"run_id": run_id, "seed": task.seed.replace(self.recorded_run_id, run_id, 1)}
            )
            for task in self.recorded
        ]

    async def execute(self) -> None:
        run_id = f"plain-{uuid.uuid4()}"
        answer = await self.client.execute_workflow(
            PLAIN_WORKFLOW,
            args=[self._tasks(run_id), self.policy],
            id=run_id,
            task_queue=PLAIN_QUEUE,
            result_type=OperatorAnswer,
        )
        if answer.content != {"text": EXPECTED_TEXT}:
            msg = f"the baseline run {run_id} answered {answer.content!r}"
            raise BenchError(msg)

    async def start(self, run_ids: list[str]) -> None:
        run_id = f"plain-{uuid.uuid4()}"
        await self.client.start_workflow(
            PLAIN_WORKFLOW, args=[self._tasks(run_id), self.policy], id=run_id, task_queue=PLAIN_QUEUE
        )
        run_ids.append(run_id)


@dataclass
class Tally:
    """One system's runs at one concurrency, summed over its rounds."""

    label: str
    elapsed: float = 0.0
    durations: list[float] = field(default_factory=list[float])
    cpu: dict[str, float] = field(default_factory=dict[str, float])

    async def measure(
        self, count: int, concurrency: int, one: Callable[[int], Awaitable[None]], meter: CpuMeter
    ) -> None:
        before = meter.snapshot()
        elapsed, durations = await at_concurrency(count, concurrency, one)
        self.elapsed += elapsed
        self.durations += durations
        for role, seconds in meter.since(before).items():
            self.cpu[role] = self.cpu.get(role, 0.0) + seconds

    @property
    def runs_per_second(self) -> float:
        return len(self.durations) / self.elapsed

    def print(self) -> None:
        print(
            f"  {self.label:<6} {len(self.durations):>5} runs in {self.elapsed:6.2f} s  "
            f"{self.runs_per_second:7.1f} runs/s  run p50 {quantile_ms(self.durations, 50):6.1f} ms  "
            f"p99 {quantile_ms(self.durations, 99):6.1f} ms"
        )
        print_cpu(self.cpu, self.elapsed)


def machine_line(sizes: Sizes) -> str:
    return (
        f"machine: {os.cpu_count()} CPUs ({platform.machine()}), Python {platform.python_version()}, "
        f"{load_average()}; N = {sizes.runs} runs per system and concurrency, "
        f"{sizes.sequential_starts} sequential + {sizes.burst_starts} burst starts"
    )


def load_average() -> str:
    """The machine's 1-minute load: other work on a shared machine moves every figure."""
    if not hasattr(os, "getloadavg"):
        return "load unknown"
    return f"load average {os.getloadavg()[0]:.1f}"


async def bench_starts(
    http: httpx.AsyncClient, client: Client, plain: PlainRuns, sizes: Sizes, meter: CpuMeter
) -> None:
    """Sequential starts (each run executes meanwhile, as in real use), a burst, and the baseline's
    `client.start_workflow` under the same conditions: the part of `/v1/start` that is Temporal's.
    """
    run_ids: list[str] = []
    before = meter.snapshot()
    elapsed, durations = await at_concurrency(sizes.sequential_starts, 1, lambda _: start_ours(http, run_ids))
    p50 = quantile_ms(durations, 50)
    verdict = "met" if p50 <= START_TARGET_MS else "MISSED"
    print(
        f"/v1/start sequential {sizes.sequential_starts:>5} starts  p50 {p50:6.2f} ms  "
        f"p99 {quantile_ms(durations, 99):6.2f} ms  (target p50 <= {START_TARGET_MS} ms: {verdict})"
    )
    print_cpu(meter.since(before), elapsed)
    before = meter.snapshot()
    elapsed, _ = await at_concurrency(
        sizes.burst_starts, BURST_CONCURRENCY, lambda _: start_ours(http, run_ids)
    )
    print(
        f"/v1/start burst      {sizes.burst_starts:>5} starts  at concurrency {BURST_CONCURRENCY} in "
        f"{elapsed:5.2f} s  {sizes.burst_starts / elapsed:7.1f} starts/s"
    )
    print_cpu(meter.since(before), elapsed)
    await drain(client, run_ids)
    plain_ids: list[str] = []
    _, durations = await at_concurrency(sizes.sequential_starts, 1, lambda _: plain.start(plain_ids))
    print(
        f"plain start_workflow {sizes.sequential_starts:>5} starts  p50 {quantile_ms(durations, 50):6.2f} ms  "
        f"p99 {quantile_ms(durations, 99):6.2f} ms  (the baseline's start, same conditions)"
    )
    await drain(client, plain_ids)


async def drain(client: Client, run_ids: list[str]) -> None:
    """Wait for the runs a start phase created, so they do not weigh on the next figures."""
    began = time.perf_counter()
    await at_concurrency(
        len(run_ids), DRAIN_CONCURRENCY, lambda index: client.get_workflow_handle(run_ids[index]).result()
    )
    print(f"  (the {len(run_ids)} runs started ended {time.perf_counter() - began:5.2f} s later)")


def print_cpu(used: dict[str, float], elapsed: float) -> None:
    if line := cpu_line(used, elapsed):
        print(line)


async def bench_runs(http: httpx.AsyncClient, plain: PlainRuns, sizes: Sizes, meter: CpuMeter) -> None:
    """Ours and the baseline in ABBA order (two halves each), so drift on the machine hits both alike."""

    async def ours(_: int) -> None:
        await execute_ours(http)

    async def baseline(_: int) -> None:
        await plain.execute()

    first, second = sizes.runs // 2, sizes.runs - sizes.runs // 2
    for concurrency in CONCURRENCIES:
        our, base = Tally("ours"), Tally("plain")
        await our.measure(first, concurrency, ours, meter)
        await base.measure(first, concurrency, baseline, meter)
        await base.measure(second, concurrency, baseline, meter)
        await our.measure(second, concurrency, ours, meter)
        ratio = our.runs_per_second / base.runs_per_second
        verdict = "met" if ratio >= RATIO_TARGET else "MISSED"
        print(f"3-step runs at concurrency {concurrency} (ours: /v1/execute; plain: execute_workflow)")
        our.print()
        base.print()
        print(f"  ratio ours/plain {ratio:5.2f}  (target >= {RATIO_TARGET}: {verdict})")


async def bench(stack: Stack, sizes: Sizes) -> None:
    client = await Client.connect(stack.temporal_address, data_converter=pydantic_data_converter)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=120, limits=limits) as http:
        # Warm-up: the worker polls, the method is cached, and our run's tasks are recorded.
        our_ids = [await execute_ours(http) for _ in range(WARM_UP_RUNS)]
        plain = PlainRuns(
            client, await recorded_tasks(client, run_workflow_id(SINGLE_TENANT, our_ids[-1])), our_ids[-1]
        )
        for _ in range(WARM_UP_RUNS):
            await plain.execute()
        meter = CpuMeter(stack)
        await bench_starts(http, client, plain, sizes, meter)
        await bench_runs(http, plain, sizes, meter)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smaller N (a smoke run)")
    parser.add_argument("--runs", type=int, help="runs per system and concurrency (N)")
    options = parser.parse_args()
    sizes = QUICK if options.quick else FULL
    if options.runs:
        sizes = Sizes(options.runs, sizes.sequential_starts, sizes.burst_starts)
    # SIGTERM (a timeout, a CI cancel) unwinds like Ctrl-C, so the stack below is always stopped.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    print(machine_line(sizes))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="methodflow-bench-") as directory:
        data_dir = Path(directory)
        log_path = data_dir / "stack.log"
        with log_path.open("ab") as log:
            try:
                with running_stack(data_dir, log) as stack:
                    print(f"methodflow dev up: API {stack.api_url}, Temporal {stack.temporal_address}")
                    asyncio.run(bench(stack, sizes))
            except (BenchError, StackError) as exc:
                log.flush()
                tail = log_path.read_text(errors="replace")[-3000:]
                print(f"error: {exc}\n--- end of the stack's log ---\n{tail}")
                raise SystemExit(1) from exc
    print(f"bench took {time.perf_counter() - started:.1f} s, {load_average()} at the end")


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    main()
