"""The workloads only ours serves, measured on `methodflow dev`: `/v1/start`, start to callback, and the
3-step runs beside a hand-written Temporal workflow of the same graph (bench/runs.py's, reused).

- `/v1/start`, one at a time while the started runs execute (bench/runs.py's conditions), beside the
  hand-written client's `start_workflow`: the part of a start that is Temporal's.
- start to callback: one run at a time of docs/examples/hello.mthds with a callback URL to the
  receiver (bench/callback_receiver.py); the duration runs from the POST to the verified event's arrival.
- runs/s of the 3-step PipeFunc sequence through `/v1/execute` against `execute_workflow` of the
  hand-written workflow, at concurrency 8 and 32, the order alternating between repetitions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
from temporalio.client import Client

from api.auth import SINGLE_TENANT
from bench.callback_receiver import Arrivals, Receiver
from bench.callbacks import RUN_DEADLINE_SECONDS, start_run
from bench.process_meter import ProcessMeter
from bench.report_figures import Repetition, Side, Workload
from bench.runs import (
    START_TARGET_MS,
    PlainRuns,
    at_concurrency,
    drain,
    execute_ours,
    recorded_tasks,
    start_ours,
)
from shared.runs.names import run_workflow_id

RUN_CONCURRENCIES = (8, 32)
RUNS_RATIO_TARGET = 0.9  # issue 18: runs/s >= 0.9x the hand-written workflow
WARM_UP_RUNS = 5
CALLBACK_PATH = "/report"
OURS = "ours"
HAND_WRITTEN = "hand-written"


class CallbackMissing(RuntimeError):
    """A run's callback did not arrive in time."""


async def metered(
    meter: ProcessMeter, count: int, concurrency: int, one: Callable[[int], Awaitable[None]]
) -> Repetition:
    async with meter.measuring() as usage:
        elapsed, durations = await at_concurrency(count, concurrency, one)
    return Repetition(count, elapsed, durations, 0, usage.cpu_seconds, usage.peak_rss_mib)


class DurableWorkloads:
    """Ours (`methodflow dev`) and the hand-written worker on its Temporal server, metered apart."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        client: Client,
        ours: ProcessMeter,
        plain: ProcessMeter,
        repetitions: int,
    ) -> None:
        self.http = http
        self.client = client
        self.ours = ours
        self.plain_meter = plain
        self.repetitions = repetitions
        self.plain: PlainRuns | None = None

    async def warm_up(self) -> PlainRuns:
        """Our runs record the tasks the hand-written workflow replays; both workers poll afterwards."""
        our_ids = [await execute_ours(self.http) for _ in range(WARM_UP_RUNS)]
        recorded = await recorded_tasks(self.client, run_workflow_id(SINGLE_TENANT, our_ids[-1]))
        self.plain = PlainRuns(self.client, recorded, our_ids[-1])
        for _ in range(WARM_UP_RUNS):
            await self.plain.execute()
        return self.plain

    async def starts(self, count: int) -> Workload:
        plain = self.plain or await self.warm_up()
        ours, theirs = Side(OURS, self.ours.counted), Side(HAND_WRITTEN, self.plain_meter.counted)
        for _ in range(self.repetitions):
            ours.repetitions.append(
                await self._starts_drained(self.ours, count, lambda ids: start_ours(self.http, ids))
            )
            theirs.repetitions.append(await self._starts_drained(self.plain_meter, count, plain.start))
        print(f"  measured start: {count} starts x {self.repetitions} per side", flush=True)
        return Workload(
            "start",
            "/v1/start of the 3-step run, one at a time (hand-written: client.start_workflow)",
            1,
            "request",
            [ours, theirs],
            baseline=HAND_WRITTEN,
            target_kind="p50_ms_at_most",
            target_value=START_TARGET_MS,
            note="the started runs execute meanwhile, as in use; their CPU falls in the figures",
        )

    async def _starts_drained(
        self, meter: ProcessMeter, count: int, start: Callable[[list[str]], Awaitable[None]]
    ) -> Repetition:
        """`count` starts one at a time, metered; then the started runs are awaited, unmetered."""
        run_ids: list[str] = []
        measured = await metered(meter, count, 1, lambda _: start(run_ids))
        await drain(self.client, run_ids)
        return measured

    async def start_to_callback(self, receiver: Receiver, arrivals: Arrivals, count: int) -> Workload:
        side = Side(OURS, self.ours.counted)

        async def one(_: int) -> None:
            run_id = await start_run(self.http, receiver, CALLBACK_PATH)
            if not await arrivals.wait(run_id, RUN_DEADLINE_SECONDS):
                msg = f"the callback of run {run_id} did not arrive within {RUN_DEADLINE_SECONDS} s"
                raise CallbackMissing(msg)

        await one(0)  # warm-up: the callback workflow's first task, the receiver's first connection
        for _ in range(self.repetitions):
            side.repetitions.append(await metered(self.ours, count, 1, one))
        print(f"  measured start-callback: {count} runs x {self.repetitions}", flush=True)
        return Workload(
            "start-callback",
            "/v1/start to the signed callback's arrival (hello.mthds), one run at a time",
            1,
            "run",
            [side],
            note="the receiver's own process is not counted",
        )

    async def runs(self, count: int) -> list[Workload]:
        plain = self.plain or await self.warm_up()

        async def ours_one(_: int) -> None:
            await execute_ours(self.http)

        async def plain_one(_: int) -> None:
            await plain.execute()

        workloads: list[Workload] = []
        for concurrency in RUN_CONCURRENCIES:
            ours, theirs = Side(OURS, self.ours.counted), Side(HAND_WRITTEN, self.plain_meter.counted)
            for number in range(self.repetitions):
                pairs = [(ours, self.ours, ours_one), (theirs, self.plain_meter, plain_one)]
                for side, meter, one in pairs if number % 2 == 0 else reversed(pairs):
                    side.repetitions.append(await metered(meter, count, concurrency, one))
            print(f"  measured runs-c{concurrency}: {count} runs x {self.repetitions} per side", flush=True)
            workloads.append(
                Workload(
                    f"runs-c{concurrency}",
                    f"3-step PipeFunc runs, concurrency {concurrency} (ours /v1/execute, hand-written "
                    "execute_workflow)",
                    concurrency,
                    "run",
                    [ours, theirs],
                    baseline=HAND_WRITTEN,
                    target_kind="ratio_at_least",
                    target_value=RUNS_RATIO_TARGET,
                    note="the hand-written side counts its worker and the shared Temporal server",
                )
            )
        return workloads
