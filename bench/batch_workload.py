"""The report's batch workload: one `PipeBatch` of N items through `/v1/start` beside the hand-written
sliding-window workflow, with bench/batch.py's bundle, workers and baseline (reused, not copied).

bench/batch.py's setting: a Temporal dev server of its own, the API in this process (uvicorn on
loopback), W worker processes of ours then W of the baseline, the function waiting 50 ms an item. The
counted processes are the workers and the Temporal server; the API shares this process with the client,
so its CPU is not counted (say so beside the figures). Latency percentiles do not apply: one run each.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from bench.batch import (
    OUR_READY_LINE,
    PLAIN_QUEUE,
    WARM_UP_ITEMS,
    BenchError,
    Options,
    Phases,
    run_ours,
    run_plain,
    serving_api,
)
from bench.batch_plain import READY_LINE
from bench.batch_workers import worker_group
from bench.process_meter import ProcessMeter
from bench.report_figures import Repetition, Side, Workload
from worker.dev_server import free_port, start_dev_server
from worker.temporal_connection import connect_when_healthy

LATENCY_MS = 50.0
PER_HISTORY = 1000
BATCH_RATIO_TARGET = 0.8  # issue 14's target, kept for the record
OURS = "ours"
HAND_WRITTEN = "hand-written"
OUR_ROLES = ("worker", "temporal")
PLAIN_ROLES = ("hand-written worker", "temporal")


async def batch_workload(items: int, workers: int, window: int) -> Workload:
    options = Options(items, (workers,), LATENCY_MS, window, PER_HISTORY, 0)
    with tempfile.TemporaryDirectory(prefix="methodflow-report-batch-") as directory:
        data_dir = Path(directory)
        with (data_dir / "temporal.log").open("ab") as log:
            server = start_dev_server(port=free_port(), log=log, die_with_parent=True)
            try:
                client = await connect_when_healthy(server.address)
                async with serving_api(server.address, data_dir) as http:
                    phases = Phases(client, http, options, data_dir)
                    ours, theirs = Side(OURS, OUR_ROLES), Side(HAND_WRITTEN, PLAIN_ROLES)
                    command = [sys.executable, "-m", "worker"]
                    with worker_group(command, workers, phases.our_env, data_dir, OUR_READY_LINE) as group:
                        warm_up = await run_ours(http, client, WARM_UP_ITEMS)
                        meter = ProcessMeter(
                            (server.process.pid, *(w.process.pid for w in group.workers)), OUR_ROLES
                        )
                        async with meter.measuring() as usage:
                            run = await run_ours(http, client, items)
                        failures = 0 if run.state == "COMPLETED" else items - run.items_done
                        ours.repetitions.append(
                            Repetition(
                                run.items_done,
                                run.elapsed,
                                [],
                                failures,
                                usage.cpu_seconds,
                                usage.peak_rss_mib,
                            )
                        )
                        if run.error is not None:
                            ours.failure_examples.append(f"{run.state} {run.error.get('code')}")
                    if warm_up.task is None:
                        msg = "no run_operator task was recorded from our warm-up run"
                        raise BenchError(msg)
                    command = [sys.executable, "-m", "bench.batch_plain", PLAIN_QUEUE]
                    with worker_group(command, workers, phases.plain_env, data_dir, READY_LINE) as group:
                        await run_plain(client, warm_up.task, WARM_UP_ITEMS, options)
                        meter = ProcessMeter(
                            (server.process.pid, *(w.process.pid for w in group.workers)), PLAIN_ROLES
                        )
                        async with meter.measuring() as usage:
                            plain = await run_plain(client, warm_up.task, items, options)
                        theirs.repetitions.append(
                            Repetition(items, plain.elapsed, [], 0, usage.cpu_seconds, usage.peak_rss_mib)
                        )
            finally:
                server.stop()
    print(f"  measured batch: {items} items, {workers} worker process(es) a side", flush=True)
    return Workload(
        "batch",
        f"PipeBatch of {items:,} items ({LATENCY_MS:g} ms each), {workers} worker process(es) "
        f"(hand-written: a sliding-window workflow)",
        window,
        "item",
        [ours, theirs],
        baseline=HAND_WRITTEN,
        target_kind="ratio_at_least",
        target_value=BATCH_RATIO_TARGET,
        note="one run a side; the API runs in the benchmark process, so its CPU is not counted",
    )
