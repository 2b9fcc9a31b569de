"""Resume: a 10,000-item batch that failed at item 9,000, resumed, against the same batch run whole;
prints both ratios (time and calls), asserts nothing (issue 19, Speed: both under 15%).

Starts a Temporal dev server on a free loopback port, the API in this process and two worker processes.
The batch is a PipeFunc (`bench/resume_functions.py`) that waits `--latency-ms` like a model call and
counts its calls in a file. Three runs, one after another:
1. the whole batch, clean: its time and calls are the baseline;
2. the same batch while the "provider" refuses every item from `--fail-from` on: the run fails;
3. the outage over, `POST /v1/runs/{id}/resume` of run 2: timed from the request to the end of the
   resumed run's workflow; its calls are the items run 2 had not completed.
Run from the repo root: `.venv/bin/python bench/resume.py [--quick] [--items N] [--fail-from N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
from temporalio.client import Client

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.batch import BenchError, serving_api
from bench.batch_workers import worker_group
from bench.dev_processes import StackError, child_env
from bench.resume_functions import CALLS_ENV, FAIL_FROM_ENV, FLAKY_ECHO, OUTAGE_ENV
from bench.resume_timeline import print_timeline
from bench.runs import load_average
from worker.dev_server import DevServerError, free_port, start_dev_server
from worker.temporal_connection import connect_when_healthy

FUNCTION_MODULE = "bench.resume_functions"
QUEUE = "methodflow-bench-resume"
BATCH_PATH = "bench_resume.all_items"  # the batch's invocation path: the run's entry pipe
READY_LINE = "worker polling task queue"
TARGET = 0.15
WORKERS = 2
RUN_DEADLINE_SECONDS = 3600

BUNDLE = f"""domain = "bench_resume"
description = "One PipeFunc over every item"
main_pipe = "all_items"

[pipe.one_item]
type = "PipeFunc"
description = "Waits, counts, echoes the item (or fails during the outage)"
inputs = {{ item = "Text" }}
output = "Text"
function_name = "{FLAKY_ECHO}"

[pipe.all_items]
type = "PipeBatch"
description = "Every item through one_item"
inputs = {{ items = "Text[]" }}
output = "Text[]"
branch_pipe_code = "one_item"
input_list_name = "items"
input_item_name = "item"
"""


@dataclass(frozen=True)
class Options:
    items: int
    fail_from: int
    latency_ms: float


@dataclass(frozen=True)
class Timed:
    state: str
    seconds: float
    calls: int
    record: dict[str, Any]
    workflow_id: str


def item_text(index: int) -> str:
    return f"item-{index:06d}"


class Bench:
    def __init__(self, http: httpx.AsyncClient, client: Client, calls_file: Path, options: Options) -> None:
        self.http = http
        self.client = client
        self.calls_file = calls_file
        self.options = options

    def calls(self) -> int:
        if not self.calls_file.exists():
            return 0
        return len(self.calls_file.read_text(encoding="utf-8").splitlines())

    async def start(self, run_id: str) -> Timed:
        body = {
            "mthds_contents": [BUNDLE],
            "inputs": {"items": [item_text(index) for index in range(self.options.items)]},
            "pipeline_run_id": run_id,
        }
        return await self._timed("/v1/start", body, run_id)

    async def resume(self, failed_id: str, run_id: str) -> Timed:
        return await self._timed(f"/v1/runs/{failed_id}/resume", {"pipeline_run_id": run_id}, run_id)

    async def _timed(self, path: str, body: dict[str, Any], run_id: str) -> Timed:
        calls_before = self.calls()
        began = time.perf_counter()
        started = await self.http.post(path, json=body)
        if started.status_code != 202:
            msg = f"{path} answered {started.status_code}: {started.text[:500]}"
            raise BenchError(msg)
        workflow_id: str = started.json()["workflow_id"]
        handle = self.client.get_workflow_handle(workflow_id)
        await asyncio.wait_for(handle.result(), RUN_DEADLINE_SECONDS)
        seconds = time.perf_counter() - began
        record: dict[str, Any] = (await self.http.get(f"/v1/runs/{run_id}")).json()
        return Timed(record["state"], seconds, self.calls() - calls_before, record, workflow_id)

    async def check_outputs(self, run_id: str) -> None:
        answer = await self.http.get(f"/v1/runs/{run_id}/results?artifacts=main_stuff")
        items = answer.json()["main_stuff"]["items"] if answer.status_code == 200 else None
        expected = [{"text": f"{item_text(index)}+"} for index in range(self.options.items)]
        if items != expected:
            msg = f"the resumed run {run_id} did not answer every item's output in order"
            raise BenchError(msg)


async def bench(options: Options, data_dir: Path, log: IO[bytes]) -> None:
    server = start_dev_server(port=free_port(), log=log, die_with_parent=True)
    calls_file, outage_file = data_dir / "calls.txt", data_dir / "outage"
    env = {
        **child_env(data_dir),
        "LOG_LEVEL": "INFO",
        "FUNCTION_MODULES": FUNCTION_MODULE,
        "TEMPORAL_ADDRESS": server.address,
        "TEMPORAL_TASK_QUEUE": QUEUE,
        "BENCH_LATENCY_MS": f"{options.latency_ms:g}",
        "PIPE_ACTIVITY_MAX_ATTEMPTS": "1",  # the outage fails the run at once, not after backoffs
        CALLS_ENV: str(calls_file),
        OUTAGE_ENV: str(outage_file),
        FAIL_FROM_ENV: str(options.fail_from),
    }
    try:
        client = await connect_when_healthy(server.address)
        async with serving_api(
            server.address, data_dir, function_modules=FUNCTION_MODULE, task_queue=QUEUE
        ) as http:
            with worker_group([sys.executable, "-m", "worker"], WORKERS, env, data_dir, READY_LINE):
                runs = Bench(http, client, calls_file, options)
                tag = uuid.uuid4().hex[:8]
                whole = await runs.start(f"resume-bench-whole-{tag}")
                print(f"  whole run     {whole.state:9}  {whole.seconds:7.1f} s  {whole.calls:7,} calls")
                outage_file.touch()
                failed = await runs.start(f"resume-bench-failed-{tag}")
                error: dict[str, Any] = failed.record.get("error") or {}
                print(
                    f"  failed run    {failed.state:9}  {failed.seconds:7.1f} s  {failed.calls:7,} calls  "
                    f"({error.get('code')})"
                )
                outage_file.unlink()
                resumed = await runs.resume(f"resume-bench-failed-{tag}", f"resume-bench-resumed-{tag}")
                print(
                    f"  resumed run   {resumed.state:9}  {resumed.seconds:7.1f} s  {resumed.calls:7,} calls  "
                    f"reused {resumed.record.get('reused_invocations')}"
                )
                await print_timeline(client, resumed.workflow_id, BATCH_PATH)
                if resumed.state == "COMPLETED":
                    await runs.check_outputs(f"resume-bench-resumed-{tag}")
                time_ratio = resumed.seconds / whole.seconds
                call_ratio = resumed.calls / whole.calls
                for name, ratio in (("time", time_ratio), ("calls", call_ratio)):
                    verdict = "met" if ratio < TARGET else "MISSED"
                    print(f"  resumed / whole ({name}) {ratio:6.3f}  (target < {TARGET}: {verdict})")
    finally:
        server.stop()


def parse_options() -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="1,000 items failing at 900")
    parser.add_argument("--items", type=int, help="items in the batch (default 10,000)")
    parser.add_argument("--fail-from", type=int, help="the first item the outage refuses (default 90%%)")
    parser.add_argument("--latency-ms", type=float, default=50, help="each call's wait (default 50)")
    given = parser.parse_args()
    items = given.items or (1000 if given.quick else 10_000)
    return Options(items=items, fail_from=given.fail_from or items * 9 // 10, latency_ms=given.latency_ms)


def main() -> None:
    options = parse_options()
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    print(
        f"resume bench: {options.items:,} items, {options.latency_ms:g} ms each, failing from item "
        f"{options.fail_from:,}; {WORKERS} worker processes; {load_average()}"
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="methodflow-bench-resume-") as directory:
        data_dir = Path(directory)
        with (data_dir / "temporal.log").open("ab") as log:
            try:
                asyncio.run(bench(options, data_dir, log))
            except (BenchError, StackError, DevServerError) as exc:
                print(f"error: {exc}")
                raise SystemExit(1) from exc
    print(f"bench took {time.perf_counter() - started:.1f} s, {load_average()} at the end")


if __name__ == "__main__":
    main()
