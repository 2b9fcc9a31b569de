"""Completion callbacks' delivery speed against `methodflow dev`; prints figures, asserts nothing (issue 5, Speed).

Starts `methodflow dev` on free loopback ports (temporary DATA_DIR, a signing secret, loopback callbacks
allowed) and a receiver process (`bench/callback_receiver.py`) that verifies every event and records its
arrival, checks the receiver's own capacity, then runs docs/examples/hello.mthds through `/v1/start`,
each run with one callback URL to the receiver, in four phases: one at a time (N/10 runs: the delay of
an idle stack), 16 in flight (N), a steady rate at half of what the 16-in-flight phase delivered (N/4),
and N started at once through 16 lanes of `/v1/start`. Each phase prints deliveries/s over its receiving
window, the p50/p99 delay from the event's `finished_at` to receipt (target p50 <= 100 ms), duplicates,
refused signatures, CPU seconds per process, and where the delay goes for a sample of runs, stage by stage,
from the Temporal histories and the delivery log (`GET /v1/runs/{id}/deliveries`).
Run from the repo root: `.venv/bin/python bench/callbacks.py [--quick] [--runs N]` (N = 1000, quick 200)."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any, Literal

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.auth import SINGLE_TENANT
from bench.callback_receiver import PROBE_PATH, Arrivals, Receiver, ReceiverError, probe, running_receiver
from bench.dev_processes import CpuMeter, Stack, StackError, running_stack
from bench.runs import at_concurrency, load_average, print_cpu, quantile_ms
from shared.runs.names import callbacks_workflow_id, run_workflow_id
from worker.dev_server import free_port

FULL_RUNS = 1000
QUICK_RUNS = 200
CONCURRENCY = 16
WARM_UP_RUNS = 5
PROBE_EVENTS = 1000
DELAY_TARGET_MS = 100
BREAKDOWN_SAMPLE = 100
SECRET = "bench-callback-secret"  # noqa: S105 -- signs loopback events of a throwaway stack
WARM_UP_PATH = "/warm-up"
HELLO_TEXT = (Path(__file__).resolve().parents[1] / "docs" / "examples" / "hello.mthds").read_text()
RUN_DEADLINE_SECONDS = 120
# Settings of `methodflow dev` (API and worker) for this benchmark, through the environment it inherits.
STACK_ENV = {"COMPLETION_CALLBACK_SECRET": SECRET, "ALLOW_PRIVATE_CALLBACK_URLS": "true"}


CLOCK_NOTE = """\
delay = receipt - the event's finished_at. finished_at is the run workflow's clock, workflow.now(): the
start of the workflow task in which the run ended, earlier than the moment it truly ends. So the delay
also holds the rest of that task (the run's last steps and the task's completion), then the delivery
workflow's start, its first workflow task, the activity's schedule-to-start, signing, the SSRF check,
the HTTP client and the POST. Every clock is this machine's."""


class BenchError(RuntimeError):
    """A start was refused or a warm-up event did not arrive; the message says which."""


def unix(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def ms_line(label: str, seconds: list[float], note: str = "") -> str:
    return (
        f"  {label:<58} p50 {quantile_ms(seconds, 50):7.1f} ms  p99 {quantile_ms(seconds, 99):7.1f} ms{note}"
    )


class BenchMeter(CpuMeter):
    """The stack's CPU seconds, plus the receiver's (a process of its own beside the stack)."""

    def __init__(self, stack: Stack, receiver: Receiver) -> None:
        super().__init__(stack)
        self.receiver_pid = receiver.process.pid
        self.roots.add(self.receiver_pid)

    def _role(self, pid: int) -> str:
        return "receiver" if pid == self.receiver_pid else super()._role(pid)


def run_body(receiver: Receiver, path: str, run_id: str) -> dict[str, Any]:
    return {
        "pipeline_run_id": run_id,
        "mthds_contents": [HELLO_TEXT],
        "inputs": {"name": "Ada"},
        "callback_urls": [receiver.url + path],
    }


async def start_run(http: httpx.AsyncClient, receiver: Receiver, path: str) -> str:
    run_id = f"bench-callbacks-{uuid.uuid4()}"
    response = await http.post("/v1/start", json=run_body(receiver, path, run_id))
    if response.status_code != 202:
        msg = f"/v1/start answered {response.status_code}: {response.text[:500]}"
        raise BenchError(msg)
    return run_id


@dataclass(frozen=True)
class Phase:
    path: str
    kind: Literal["one", "paced", "steady", "burst"]
    share: int  # runs = N // share

    def count(self, runs: int) -> int:
        return max(1, runs // self.share)


PHASES = (
    Phase("/one", "one", 10),
    Phase("/paced", "paced", 1),
    Phase("/steady", "steady", 4),
    Phase("/burst", "burst", 1),
)


def describe(phase: Phase, count: int, rate: float) -> str:
    what = {
        "one": "one at a time: a run starts when the previous run's event arrived",
        "paced": f"paced: {CONCURRENCY} runs in flight, each lane starts its next run when its event arrived",
        "steady": f"steady: a run started every {1000 / rate:.0f} ms ({rate:.1f}/s, half the paced phase's "
        "deliveries/s), open loop",
        "burst": f"burst: all started at once ({CONCURRENCY} lanes of /v1/start), a backlog forms",
    }[phase.kind]
    return f"{what}; {count} runs"


async def drive(
    http: httpx.AsyncClient, receiver: Receiver, arrivals: Arrivals, phase: Phase, count: int, rate: float
) -> list[str]:
    """Start the phase's runs as its kind says; every event awaited (a missing one is reported, not raised)."""
    run_ids: list[str] = []

    async def start(_: int) -> None:
        run_ids.append(await start_run(http, receiver, phase.path))

    async def start_and_wait(_: int) -> None:
        run_id = await start_run(http, receiver, phase.path)
        run_ids.append(run_id)
        await arrivals.wait(run_id, RUN_DEADLINE_SECONDS)

    if phase.kind in ("one", "paced"):
        await at_concurrency(count, 1 if phase.kind == "one" else CONCURRENCY, start_and_wait)
    elif phase.kind == "burst":
        elapsed, _ = await at_concurrency(count, CONCURRENCY, start)
        print(f"  started in {elapsed:.2f} s, {count / elapsed:.1f} starts/s")
    else:
        began = time.perf_counter()
        starts: list[asyncio.Task[None]] = []
        for index in range(count):
            await asyncio.sleep(max(0.0, began + index / rate - time.perf_counter()))
            starts.append(asyncio.create_task(start(index)))
        await asyncio.gather(*starts)
    deadline = time.monotonic() + RUN_DEADLINE_SECONDS + count * 0.2  # generous: seconds suffice
    for run_id in run_ids:
        await arrivals.wait(run_id, max(0.0, deadline - time.monotonic()))
    return run_ids


@dataclass
class Receipts:
    """The events of the measured runs as the receiver recorded them."""

    first: dict[str, dict[str, Any]]  # run id -> its first receipt
    duplicates: int
    failures: int

    @classmethod
    def of(cls, records: dict[str, list[dict[str, Any]]], path: str) -> Receipts:
        first: dict[str, dict[str, Any]] = {}
        seen: set[str] = set()
        duplicates = 0
        for event in records["events"]:
            if event["path"] != path:
                continue
            if event["webhook_id"] in seen:
                duplicates += 1
                continue
            seen.add(event["webhook_id"])
            first[event["run_id"]] = event
        failures = sum(1 for failure in records["failures"] if failure["path"] == path)
        return cls(first, duplicates, failures)

    def delays(self) -> list[float]:
        return [event["received_at"] - unix(event["finished_at"]) for event in self.first.values()]


def print_receipts(receipts: Receipts, run_ids: list[str], started_at: float) -> float:
    """Print the phase's figures; its deliveries/s (0 when fewer than two events arrived)."""
    events = list(receipts.first.values())
    missing = [run_id for run_id in run_ids if run_id not in receipts.first]
    print(f"events: {len(events)} of {len(run_ids)} received", end="")
    print(f"; MISSING {len(missing)}: {', '.join(missing[:10])}" if missing else "")
    if len(events) < 2:
        return 0.0
    times = sorted(event["received_at"] for event in events)
    window = times[-1] - times[0]
    print(
        f"  {len(events) / window:7.1f} deliveries/s over the receiving window of {window:.2f} s "
        f"(first to last receipt; the last receipt came {times[-1] - started_at:.2f} s after the first start)"
    )
    delays = receipts.delays()
    p50 = quantile_ms(delays, 50)
    verdict = "met" if p50 <= DELAY_TARGET_MS else "MISSED"
    note = f"  max {max(delays) * 1000:7.1f} ms  (target p50 <= {DELAY_TARGET_MS} ms: {verdict})"
    print(ms_line("delay finished_at -> receipt", delays, note))
    handled = [event["handled_ms"] / 1000 for event in events]
    print(ms_line("receiver's own time per event (read, verify, answer)", handled))
    states = sorted({str(event["state"]) for event in events})
    print(
        f"  duplicates (webhook-id seen again) {receipts.duplicates}; verification failures "
        f"{receipts.failures} (must be 0); run states {', '.join(states)}"
    )
    return len(events) / window


async def print_probe(receiver: Receiver) -> None:
    result = await probe(receiver, SECRET, PROBE_EVENTS, CONCURRENCY)
    counts = await asyncio.to_thread(receiver.counts, PROBE_PATH)
    print(
        f"receiver alone: {result.count} signed events at concurrency {CONCURRENCY}, a new connection each, "
        f"{result.count / result.elapsed:7.1f} events/s; round trip p50 {quantile_ms(result.round_trips, 50):5.2f} ms "
        f"p99 {quantile_ms(result.round_trips, 99):5.2f} ms; verified {counts['unique']}, "
        f"failures {counts['failures']}"
    )


# -- where the delay goes: Temporal histories and the delivery log of a sample of runs ----------------


def event_time(event: HistoryEvent) -> float:
    return event.event_time.seconds + event.event_time.nanos / 1e9


def first_of(events: list[HistoryEvent], kind: EventType.ValueType) -> HistoryEvent:
    return next(event for event in events if event.event_type == kind)


@dataclass(frozen=True)
class Timeline:
    """One run's moments, from `finished_at` to the end of its delivery activity (Unix seconds)."""

    finished_at: float
    parent_task_started: float
    child_requested: float
    child_started: float
    child_task_started: float
    activity_scheduled: float
    attempt_began: float
    received: float
    attempt_ended: float


STAGES: list[tuple[str, Callable[[Timeline], float]]] = [
    (
        "finished_at -> run's task completes, asking the child start",
        lambda t: t.child_requested - t.finished_at,
    ),
    (
        "  (check: finished_at - that task's WorkflowTaskStarted)",
        lambda t: t.finished_at - t.parent_task_started,
    ),
    ("-> delivery workflow started (server)", lambda t: t.child_started - t.child_requested),
    ("-> its first workflow task picked up by the worker", lambda t: t.child_task_started - t.child_started),
    ("-> deliver_callback scheduled (task processed)", lambda t: t.activity_scheduled - t.child_task_started),
    ("-> attempt begins in the worker (schedule-to-start)", lambda t: t.attempt_began - t.activity_scheduled),
    ("-> receipt (sign, SSRF guard, httpx client, POST)", lambda t: t.received - t.attempt_began),
    ("receipt -> attempt ends (answer, delivery log write)", lambda t: t.attempt_ended - t.received),
]


async def timeline(client: Client, http: httpx.AsyncClient, event: dict[str, Any]) -> Timeline:
    run_id = str(event["run_id"])
    workflow_id = run_workflow_id(SINGLE_TENANT, run_id)
    parent = list((await client.get_workflow_handle(workflow_id).fetch_history()).events)
    child = list(
        (await client.get_workflow_handle(callbacks_workflow_id(workflow_id)).fetch_history()).events
    )
    initiated = first_of(parent, EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED)
    index = parent.index(initiated)
    task_started = next(
        item
        for item in reversed(parent[:index])
        if item.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
    )
    deliveries = (await http.get(f"/v1/runs/{run_id}/deliveries")).json()
    attempt = deliveries["items"][0]["attempts"][0]
    began = unix(attempt["started_at"])
    return Timeline(
        finished_at=unix(event["finished_at"]),
        parent_task_started=event_time(task_started),
        child_requested=event_time(initiated),
        child_started=event_time(child[0]),
        child_task_started=event_time(first_of(child, EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED)),
        activity_scheduled=event_time(first_of(child, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)),
        attempt_began=began,
        received=float(event["received_at"]),
        attempt_ended=began + attempt["duration_ms"] / 1000,
    )


async def print_breakdown(client: Client, http: httpx.AsyncClient, receipts: Receipts) -> None:
    events = sorted(receipts.first.values(), key=lambda event: event["received_at"])
    step = max(1, len(events) // BREAKDOWN_SAMPLE)
    sample = events[::step][:BREAKDOWN_SAMPLE]
    if len(sample) < 2:
        return
    timelines = [await timeline(client, http, event) for event in sample]
    print(f"where the delay goes, {len(timelines)} runs spread over the window (stages add up to the delay):")
    for label, stage in STAGES:
        print(ms_line(label, [stage(item) for item in timelines]))
    print(
        ms_line("total finished_at -> receipt (this sample)", [t.received - t.finished_at for t in timelines])
    )


# -- the benchmark ---------------------------------------------------------------------------------


async def bench(stack: Stack, receiver: Receiver, runs: int) -> None:
    await print_probe(receiver)
    print(CLOCK_NOTE)
    arrivals = Arrivals(receiver, asyncio.get_running_loop())
    client = await Client.connect(stack.temporal_address)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=60, limits=limits) as http:
        # Warm-up: the worker polls both workflows' tasks, the method is validated and cached.
        for _ in range(WARM_UP_RUNS):
            run_id = await start_run(http, receiver, WARM_UP_PATH)
            if not await arrivals.wait(run_id, RUN_DEADLINE_SECONDS):
                msg = f"the warm-up run {run_id}'s event did not arrive within {RUN_DEADLINE_SECONDS} s"
                raise BenchError(msg)
        meter = BenchMeter(stack, receiver)
        rate = 1.0  # of the steady phase: half the deliveries/s of the paced phase, which runs before it
        for phase in PHASES:
            count = phase.count(runs)
            print(describe(phase, count, rate))
            before = meter.snapshot()
            started_at = time.time()
            run_ids = await drive(http, receiver, arrivals, phase, count, rate)
            used, waited = meter.since(before), time.time() - started_at
            receipts = Receipts.of(await asyncio.to_thread(receiver.records), phase.path)
            deliveries_per_second = print_receipts(receipts, run_ids, started_at)
            if phase.kind == "paced":
                rate = max(1.0, deliveries_per_second / 2)
            print_cpu(used, waited)
            await print_breakdown(client, http, receipts)
    # Checked last, after the breakdowns took their seconds: a retry would have arrived meanwhile.
    records = await asyncio.to_thread(receiver.records)
    late = [Receipts.of(records, phase.path) for phase in PHASES]
    print(
        f"at the end: duplicates {sum(item.duplicates for item in late)}, verification failures "
        f"{sum(item.failures for item in late)} over all phases"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_RUNS} runs (a smoke run)")
    parser.add_argument("--runs", type=int, help=f"runs to start (default {FULL_RUNS})")
    options = parser.parse_args()
    runs = options.runs or (QUICK_RUNS if options.quick else FULL_RUNS)
    # SIGTERM (a timeout, a CI cancel) unwinds like Ctrl-C, so the processes below are always stopped.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    os.environ.update(STACK_ENV)  # `running_stack` passes our environment on to `methodflow dev`
    print(f"machine: {os.cpu_count()} CPUs, {load_average()}; N = {runs} runs, concurrency {CONCURRENCY}")
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="methodflow-bench-callbacks-") as directory:
        # Bytecode as a built image has it (pip compiles at install), kept out of the work tree: without
        # it, every workflow's sandbox compiles the workflow modules again (PYTHONDONTWRITEBYTECODE=1).
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ["PYTHONPYCACHEPREFIX"] = str(Path(directory) / "pycache")
        log_path = Path(directory) / "stack.log"
        with log_path.open("ab") as log:
            try:
                with (
                    running_stack(Path(directory), log) as stack,
                    running_receiver(free_port(), SECRET) as receiver,
                ):
                    print(f"methodflow dev up: API {stack.api_url}; receiver {receiver.url}")
                    asyncio.run(bench(stack, receiver, runs))
            except (BenchError, StackError, ReceiverError) as exc:
                log.flush()
                tail = log_path.read_text(errors="replace")[-3000:]
                print(f"error: {exc}\n--- end of the stack's log ---\n{tail}")
                raise SystemExit(1) from exc
    print(f"bench took {time.perf_counter() - began:.1f} s, {load_average()} at the end")


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    main()
