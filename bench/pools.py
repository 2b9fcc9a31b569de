"""Worker pools under a mixed load: short runs of one tenant while another tenant's large batch runs.

Usage: `python bench/pools.py [--quick] [--seconds S] [--rate R] [--batch-items N] [--latency-ms MS]`.

Each setup gets its own Temporal dev server, the API (in this process, API-key auth with two tenants:
`short` and `bulk`), a fake OpenAI-compatible provider answering after `--latency-ms` (a process of its
own, `bench/model_provider.py`), and worker processes (`methodflow worker --pool ...`):

- `one pool`: two workers of the `all` pool, everything on the main queue;
- `pools`: `TASK_QUEUE_ROUTES=llm=llm,func=func`, one worker each of the `main`, `llm` and `func` pools;
- `one pool, no fairness`: as `one pool`, on a dev server without Temporal's fairness (the control).

The short runs (a function step, then a model step) are sent by tenant `short` at `--rate` runs/s for
`--seconds` through `/v1/execute`, first on a quiet system, then while tenant `bulk`'s batch of
`--batch-items` model calls runs. Printed per setup: short runs/s and their p50/p99 end-to-end time in
both phases, and the ratio of the p99s (the target: at most 2x). A benchmark, not a test: these
machines are shared and noisy, so read the figures beside each other, from one run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncGenerator, Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO

import httpx
import uvicorn
from pydantic import SecretStr

from api.auth import AuthMode
from api.main import create_app
from api.settings import ApiSettings
from bench.batch_functions import LATENCY_ENV, SLOW_ECHO
from bench.batch_workers import worker_group
from bench.dev_processes import ROOT, StackError, child_env
from bench.runs import load_average
from worker.dev_server import HOST, DevServerError, free_port, start_dev_server

FUNCTION_MODULE = "bench.batch_functions"
QUEUE = "methodflow-bench-pools"
READY_LINE = "worker polling task queue"
SHORT_KEY = "key-short"
BULK_KEY = "key-bulk"
PROVIDER_KEY = "sk-bench-pools"
P99_TARGET = 2.0
DECK = """
[models.bench-llm]
type = "llm"
provider = "openai"
model = "test-model"

[aliases.llm]
default-general = "bench-llm"
"""
SHORT_BUNDLE = f"""domain = "bench_short"
main_pipe = "short"

[pipe.echo]
type = "PipeFunc"
description = "A function step"
inputs = {{ name = "Text" }}
output = "Text"
function_name = "{SLOW_ECHO}"

[pipe.greet]
type = "PipeLLM"
description = "A model step"
inputs = {{ echoed = "Text" }}
output = "Text"
prompt = "Say hello to {{{{ echoed }}}}."

[pipe.short]
type = "PipeSequence"
description = "A function, then a model"
inputs = {{ name = "Text" }}
output = "Text"
steps = [{{ pipe = "echo", result = "echoed" }}, {{ pipe = "greet", result = "greeting" }}]
"""
BATCH_BUNDLE = """domain = "bench_bulk"
main_pipe = "all_greetings"

[pipe.greet]
type = "PipeLLM"
description = "Greets one name"
inputs = { name = "Text" }
output = "Text"
prompt = "Say hello to {{ name }}."

[pipe.all_greetings]
type = "PipeBatch"
description = "Greets every name"
inputs = { names = "Text[]" }
output = "Text[]"
branch_pipe_code = "greet"
input_list_name = "names"
input_item_name = "name"
"""


class BenchError(RuntimeError):
    """A run of the benchmark did not do what it must; the message says what."""


@dataclass(frozen=True)
class Options:
    seconds: float
    rate: float
    batch_items: int
    latency_ms: float


@dataclass(frozen=True)
class Setup:
    name: str
    routes: str
    pools: tuple[str, ...]
    fairness: bool


SETUPS = (
    Setup("one pool", "", ("all", "all"), fairness=True),
    Setup("pools", "llm=llm,func=func", ("main", "llm", "func"), fairness=True),
    Setup("one pool, no fairness", "", ("all", "all"), fairness=False),
)


@dataclass
class Phase:
    """The end-to-end times of the short runs of one phase."""

    seconds: list[float]
    elapsed: float

    @property
    def runs_per_second(self) -> float:
        return len(self.seconds) / self.elapsed

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    def line(self, label: str) -> str:
        return (
            f"  {label:<6} {len(self.seconds):4d} short runs, {self.runs_per_second:5.2f} runs/s, "
            f"p50 {1000 * statistics.median(self.seconds):7.0f} ms, p99 {1000 * self.percentile(0.99):7.0f} ms"
        )


@contextlib.asynccontextmanager
async def serving_api(temporal_address: str, data_dir: Path, deck: Path, routes: str) -> AsyncGenerator[str]:
    """The API in this process on a free loopback port, with two API-key tenants; yields its URL."""
    settings = ApiSettings(
        temporal_address=temporal_address,
        temporal_task_queue=QUEUE,
        data_dir=data_dir,
        storage=None,
        auth_mode=AuthMode.API_KEY,
        api_key=SecretStr(f"short:{SHORT_KEY},bulk:{BULK_KEY}"),
        function_modules=FUNCTION_MODULE,
        model_deck=deck,
        task_queue_routes=routes,
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host=HOST, port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # uvicorn offers a flag, not an event
        if task.done():
            await task
        await asyncio.sleep(0.01)
    try:
        yield f"http://{HOST}:{port}"
    finally:
        server.should_exit = True
        await task


@contextlib.contextmanager
def model_provider(latency_ms: float, log_dir: Path) -> Generator[str]:
    """`bench/model_provider.py` in a process of its own; yields the base URL to give the OpenAI SDK."""
    port = free_port()
    command = [sys.executable, "-m", "bench.model_provider", "--port", str(port)]
    command += ["--latency-ms", str(latency_ms), "--key", PROVIDER_KEY]
    with (log_dir / "provider.log").open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        deadline = time.monotonic() + 60
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                msg = f"the fake provider did not start: {(log_dir / 'provider.log').read_text()[-2000:]}"
                raise BenchError(msg)
            time.sleep(0.1)
        yield f"http://{HOST}:{port}/v1"
    finally:
        process.terminate()
        process.wait(30)


def _answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
        return True
    return False


async def short_run(http: httpx.AsyncClient, index: int) -> float:
    """One short run through `/v1/execute`; its end-to-end time."""
    started = time.perf_counter()
    answer = await http.post(
        "/v1/execute",
        json={"mthds_contents": [SHORT_BUNDLE], "inputs": {"name": f"short-{index}"}},
        headers={"Authorization": f"Bearer {SHORT_KEY}"},
    )
    elapsed = time.perf_counter() - started
    if answer.status_code != 200 or answer.json().get("state") != "COMPLETED":
        msg = f"a short run did not complete: {answer.status_code} {answer.text[:500]}"
        raise BenchError(msg)
    return elapsed


async def short_phase(http: httpx.AsyncClient, options: Options) -> Phase:
    """Short runs sent at `options.rate` a second for `options.seconds`, each timed to its end."""
    started = time.perf_counter()
    count = int(options.seconds * options.rate)
    tasks: list[asyncio.Task[float]] = []
    for index in range(count):
        await asyncio.sleep(max(0.0, started + index / options.rate - time.perf_counter()))
        tasks.append(asyncio.create_task(short_run(http, index)))
    times = await asyncio.gather(*tasks)
    return Phase(list(times), time.perf_counter() - started)


async def start_batch(http: httpx.AsyncClient, items: int) -> str:
    run_id = f"bulk-{uuid.uuid4()}"
    answer = await http.post(
        "/v1/start",
        json={
            "mthds_contents": [BATCH_BUNDLE],
            "inputs": {"names": [f"name-{index}" for index in range(items)]},
            "pipeline_run_id": run_id,
        },
        headers={"Authorization": f"Bearer {BULK_KEY}"},
    )
    if answer.status_code != 202:
        msg = f"the batch was not started: {answer.status_code} {answer.text[:500]}"
        raise BenchError(msg)
    return run_id


async def batch_state(http: httpx.AsyncClient, run_id: str) -> str:
    answer = await http.get(f"/v1/runs/{run_id}/status", headers={"Authorization": f"Bearer {BULK_KEY}"})
    return str(answer.json().get("state"))


async def measure(setup: Setup, options: Options, base_dir: Path, log: IO[bytes]) -> tuple[Phase, Phase]:
    data_dir = base_dir / setup.name.replace(" ", "-").replace(",", "")
    data_dir.mkdir()
    deck = data_dir / "deck.toml"
    deck.write_text(DECK, encoding="utf-8")
    server = start_dev_server(port=free_port(), log=log, die_with_parent=True, fairness=setup.fairness)
    try:
        with model_provider(options.latency_ms, data_dir) as provider_url:
            return await measure_on(setup, options, server.address, data_dir, deck, provider_url)
    finally:
        server.stop()


async def measure_on(
    setup: Setup, options: Options, temporal_address: str, data_dir: Path, deck: Path, provider_url: str
) -> tuple[Phase, Phase]:
    """The quiet and busy phases of `setup` on a running dev server and provider."""
    async with serving_api(temporal_address, data_dir, deck, setup.routes) as url:
        env = child_env(data_dir) | {
            "TEMPORAL_ADDRESS": temporal_address,
            "TEMPORAL_TASK_QUEUE": QUEUE,
            "MODEL_DECK": str(deck),
            "OPENAI_BASE_URL": provider_url,
            "OPENAI_API_KEY": PROVIDER_KEY,
            "TASK_QUEUE_ROUTES": setup.routes,
            "FUNCTION_MODULES": FUNCTION_MODULE,
            LATENCY_ENV: str(options.latency_ms),
        }
        async with httpx.AsyncClient(base_url=url, timeout=600) as http, contextlib.AsyncExitStack() as stack:
            for pool in setup.pools:
                command = [sys.executable, "-m", "worker", "--pool", pool]
                stack.enter_context(worker_group(command, 1, env, data_dir, READY_LINE))
            await short_phase(http, Options(2, options.rate, 0, options.latency_ms))  # warm-up
            quiet = await short_phase(http, options)
            run_id = await start_batch(http, options.batch_items)
            await asyncio.sleep(2)  # the batch's items are in flight
            busy = await short_phase(http, options)
            if await batch_state(http, run_id) != "RUNNING":
                print("  (the batch ended before the busy phase did: make --batch-items larger)")
            await http.post(f"/v1/runs/{run_id}/cancel", headers={"Authorization": f"Bearer {BULK_KEY}"})
    return quiet, busy


async def bench(options: Options, setups: Sequence[Setup], base_dir: Path, log: IO[bytes]) -> None:
    for setup in setups:
        print(f"{setup.name}: pools {', '.join(setup.pools)}; fairness {'on' if setup.fairness else 'off'}")
        quiet, busy = await measure(setup, options, base_dir, log)
        print(quiet.line("quiet"))
        print(busy.line("batch"))
        ratio = busy.percentile(0.99) / quiet.percentile(0.99)
        verdict = "within" if ratio <= P99_TARGET else "over"
        print(
            f"  p99 with the batch / without: {ratio:.2f} ({verdict} the {P99_TARGET:g}x target); {load_average()}"
        )


def parse_options() -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="8 s phases, a 1,500-item batch")
    parser.add_argument("--seconds", type=float, help="length of each phase (default 20)")
    parser.add_argument("--rate", type=float, default=4, help="short runs started a second (default 4)")
    parser.add_argument("--batch-items", type=int, help="items of the large batch (default 5,000)")
    parser.add_argument("--latency-ms", type=float, default=100, help="the provider's and function's wait")
    given = parser.parse_args()
    return Options(
        seconds=given.seconds or (8 if given.quick else 20),
        rate=given.rate,
        batch_items=given.batch_items or (1500 if given.quick else 5000),
        latency_ms=given.latency_ms,
    )


def main() -> None:
    options = parse_options()
    signal.signal(signal.SIGTERM, _exit_on_signal)
    print(
        f"pools bench: short runs at {options.rate:g}/s for {options.seconds:g} s per phase, a batch of "
        f"{options.batch_items:,} model calls, {options.latency_ms:g} ms per call; {load_average()}"
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="methodflow-bench-pools-") as directory:
        base_dir = Path(directory)
        with (base_dir / "temporal.log").open("ab") as log:
            try:
                asyncio.run(bench(options, SETUPS, base_dir, log))
            except (BenchError, StackError, DevServerError) as exc:
                print(f"error: {exc}")
                raise SystemExit(1) from exc
    print(f"bench took {time.perf_counter() - started:.1f} s, {load_average()} at the end")


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    main()
