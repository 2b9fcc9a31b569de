"""The benchmark report: ours beside the reference server in one run, and beside hand-written Temporal
workflows where the reference has no counterpart; prints one table, writes bench/results/latest.json and
bench/results/latency.png (issue 18). bench/report_page.py turns the JSON into docs/benchmarks.md.

Boots `methodflow dev` (API, worker, Temporal dev server) with bench/runs.py's hand-written worker, the
reference (pipelex-api 0.92.2 from `.cache/reference-venv`, offline, loopback; `make bench` installs it)
and bench/callback_receiver.py, then measures bench/side_by_side.py's workloads on both servers and
bench/durable_workloads.py's on ours; last, with that stack stopped, bench/batch_workload.py's batch.

Run from the repo root: `.venv/bin/python bench/report.py [--quick]` (or BENCH_QUICK=1): quick is a
smoke run of about three minutes (smaller sizes, one repetition, a 500-item batch); full is `make bench`'s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

# Run as a script, Python puts `bench/` first on sys.path; the repo root is needed to import `bench` and `tests`.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.batch import OUR_ITEMS_IN_FLIGHT
from bench.batch_workload import batch_workload
from bench.callback_receiver import Arrivals, Receiver, ReceiverError, running_receiver
from bench.callbacks import SECRET, STACK_ENV
from bench.compare_reference import ServerDidNotStart, reference_server
from bench.dev_processes import Stack, StackError, running_stack
from bench.durable_workloads import WARM_UP_RUNS, DurableWorkloads
from bench.process_meter import POLL_SECONDS, ProcessMeter
from bench.report_chart import write_chart
from bench.report_figures import Workload, report_json
from bench.report_page import CHART, LATEST, table_lines, target_lines
from bench.side_by_side import Server, SideBySide, execute_workloads, tooling_workloads
from bench.tooling import REFERENCE_MARKER, child_pid, reference_missing
from tests.conformance.corpus import (
    CorpusEntry,
    CorpusUnavailableError,
    Tier,
    Validity,
    fetch_wheel,
    load_entries,
)
from worker.dev_server import free_port

ROOT = Path(__file__).resolve().parents[1]
TOOLING_CONCURRENCY = 8
OUR_ROLES = ("api", "worker", "temporal", "dev cli")
PLAIN_ROLES = ("hand-written worker", "temporal")
QUICK_ENV = "BENCH_QUICK"


@dataclass(frozen=True)
class Sizes:
    repetitions: int
    tooling_requests: int
    execute_c1: int
    execute_c8: int
    execute_c32: int
    starts: int
    callback_runs: int
    runs: int
    batch_items: int
    batch_workers: int


FULL = Sizes(3, 120, 40, 120, 128, 100, 30, 64, 10_000, 2)
QUICK = Sizes(1, 40, 10, 40, 64, 40, 10, 32, 500, 1)


def machine_info() -> dict[str, Any]:
    model = "unknown CPU"
    if Path("/proc/cpuinfo").is_file():
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]  # fmt: skip
        model = names[0] if names else model
    commit = _git("rev-parse", "--short=12", "HEAD")
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "platform": f"{platform.system()} {platform.machine()}",
        "python": platform.python_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "git_commit": commit,
        "uncommitted_changes": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "load_average_start": [round(value, 2) for value in os.getloadavg()],
    }


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S603, S607 - fixed argv
    except OSError:
        return "unknown"
    return done.stdout.strip() or "unknown"


def method_notes(sizes: Sizes) -> dict[str, Any]:
    notes = {
        "Ours": "`methodflow dev` on loopback: the API (uvicorn), a worker process, the Temporal dev server "
        "and the `methodflow dev` supervisor; CPU and RSS counted for all four (roles "
        f"{', '.join(OUR_ROLES)}). Durable: every run is a Temporal workflow, every step an activity.",
        "Reference": "pipelex-api 0.92.2 from its own venv under `.cache/`, one uvicorn process, auth off, "
        "dummy provider keys, no network; counted: that process. In-process, not durable.",
        "Hand-written": "bench/plain_workflow.py (3-step runs) and bench/batch_plain.py (batch): plain "
        "Temporal workflows over the same activity, on the same Temporal server; counted: their worker "
        "process and the Temporal server.",
        "Client": "one asyncio httpx client in the benchmark process with keep-alive connections; C lanes, "
        "each sending its next request when its answer arrived (closed loop). Latency is the client's: "
        "from sending to the whole answer read.",
        "CPU seconds per unit": "utime + stime (/proc/<pid>/stat) of the counted processes, read before "
        "and after each repetition, divided by its requests (runs, items).",
        "Peak RSS": f"VmRSS polled every {POLL_SECONDS:g} s during each repetition; per role, the largest "
        "process.",
        "Warm-up": "before each workload's repetitions, every distinct body once to each server, untimed; "
        f"{WARM_UP_RUNS} runs a side before the durable workloads; a small batch a side before the batch.",
    }
    return {"repetitions": sizes.repetitions, "sizes": asdict(sizes), "notes": notes}


def corpus() -> tuple[list[CorpusEntry], list[CorpusEntry]]:
    """The valid corpus methods (tooling routes) and the valid offline ones (execute)."""
    entries = [entry for entry in load_entries(fetch_wheel()) if entry.manifest.validity is Validity.VALID]
    return entries, [entry for entry in entries if entry.manifest.tier is Tier.OFFLINE]


async def measure_stack(
    stack: Stack, reference_base: str, receiver: Receiver, sizes: Sizes
) -> list[Workload]:
    valid, offline = corpus()
    reference_pid = child_pid(REFERENCE_MARKER)
    if reference_pid is None or stack.plain is None:
        msg = "the reference's or the hand-written worker's process was not found"
        raise StackError(msg)
    ours_meter = ProcessMeter((stack.dev.pid,), OUR_ROLES)
    plain_meter = ProcessMeter((stack.plain.pid, stack.dev.pid), PLAIN_ROLES)
    servers = (
        Server("reference", reference_base, ProcessMeter((reference_pid,), ("reference",))),
        Server("ours", stack.api_url, ours_meter),
    )
    side_by_side = SideBySide(servers, sizes.repetitions)
    try:
        workloads = await tooling_workloads(side_by_side, valid, sizes.tooling_requests, TOOLING_CONCURRENCY)
        counts = {1: sizes.execute_c1, 8: sizes.execute_c8, 32: sizes.execute_c32}
        workloads += await execute_workloads(side_by_side, offline, counts)
    finally:
        await side_by_side.aclose()
    client = await Client.connect(stack.temporal_address, data_converter=pydantic_data_converter)
    arrivals = Arrivals(receiver, asyncio.get_running_loop())
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=120, limits=limits) as http:
        durable = DurableWorkloads(http, client, ours_meter, plain_meter, sizes.repetitions)
        await durable.warm_up()
        workloads.append(await durable.starts(sizes.starts))
        workloads.append(await durable.start_to_callback(receiver, arrivals, sizes.callback_runs))
        workloads += await durable.runs(sizes.runs)
    return workloads


def measure(sizes: Sizes) -> list[Workload]:
    # `methodflow dev` inherits these: a callback secret, loopback receivers allowed.
    os.environ.update(STACK_ENV)
    with tempfile.TemporaryDirectory(prefix="methodflow-report-") as directory:
        scratch = Path(directory)
        # Bytecode as a built image has it, kept out of the work tree (as bench/callbacks.py does).
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ["PYTHONPYCACHEPREFIX"] = str(scratch / "pycache")
        (scratch / "reference").mkdir()
        log_path = scratch / "stack.log"
        with log_path.open("ab") as log:
            try:
                with (
                    running_stack(scratch, log) as stack,
                    reference_server(scratch / "reference") as reference_base,
                    running_receiver(free_port(), SECRET) as receiver,
                ):
                    print(f"up: ours {stack.api_url}, reference {reference_base}", flush=True)
                    workloads = asyncio.run(measure_stack(stack, reference_base, receiver, sizes))
            except (StackError, ServerDidNotStart, ReceiverError) as exc:
                log.flush()
                print(
                    f"error: {exc}\n--- end of the stack's log ---\n{log_path.read_text(errors='replace')[-3000:]}"
                )
                raise SystemExit(1) from exc
    workloads.append(asyncio.run(batch_workload(sizes.batch_items, sizes.batch_workers, OUR_ITEMS_IN_FLIGHT)))
    return workloads


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of about three minutes")
    quick = parser.parse_args().quick or os.environ.get(QUICK_ENV, "") not in ("", "0")
    sizes = QUICK if quick else FULL
    signal.signal(signal.SIGTERM, _exit_on_signal)  # unwinds like Ctrl-C: every process is stopped
    if (missing := reference_missing()) is not None:
        print(missing)
        raise SystemExit(2)
    try:
        corpus()
    except CorpusUnavailableError as exc:
        print(f"corpus unavailable: {exc}")
        raise SystemExit(1) from exc
    machine = machine_info()
    print(f"benchmark report ({'quick' if quick else 'full'}): {machine['cores']} cores, load average "
          f"{machine['load_average_start']}, commit {machine['git_commit']}", flush=True)  # fmt: skip
    began = time.perf_counter()
    workloads = measure(sizes)
    machine["load_average_end"] = [round(value, 2) for value in os.getloadavg()]
    report = report_json(
        mode="quick" if quick else "full",
        machine=machine,
        method=method_notes(sizes),
        workloads=workloads,
        wall_seconds=time.perf_counter() - began,
    )
    LATEST.parent.mkdir(parents=True, exist_ok=True)
    LATEST.write_text(json.dumps(report, indent=1) + "\n")
    drawn = write_chart(report, CHART)
    print("\n".join(["", *table_lines(report), "", *target_lines(report), ""]))
    wrote = f"wrote {LATEST.relative_to(ROOT)}" + (f" and {CHART.relative_to(ROOT)}" if drawn else "")
    print(f"{wrote}; bench/report_page.py writes docs/benchmarks.md from them")
    print(
        f"report took {report['wall_seconds']:.0f} s, load average {machine['load_average_end']} at the end"
    )


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    main()
