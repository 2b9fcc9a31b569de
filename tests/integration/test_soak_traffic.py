"""The soak test (issue 18, `make soak` only): 30 minutes of mixed traffic against the API and one worker,
each its own process, with the resident memory (VmRSS) and open file descriptors of both sampled every
minute; they stay flat, no answer is an error the traffic did not ask for, and every accepted run ends.

The traffic, from a few concurrent clients with a short pause between operations: `/v1/execute` of the
offline hello bundle and of a PipeLLM bundle answered by the OpenAI-compatible test server, `/v1/start`
followed through status, progress, results and events (some with `callback_urls` to a loopback receiver),
a small batch, starts cancelled mid-run, `/v1/validate` of ever-changing bundles, `/v1/pipe-io`,
`/v1/format`, `/v1/runs` listings, and bad requests (422s, 404s) that must be typed problems.

Flatness, robust to warm-up (imports, caches, pools and allocator arenas fill during the first minutes;
the worker's sticky cache alone holds up to 1,000 workflows, the SDK's default, reached after a few
minutes at this traffic's 3 to 5 runs a second):
the samples taken in the first 20 % of the time are ignored; the median of the last third is compared with
the median of the samples between the warm-up and the last third. RSS may grow by 15 % or 40 MiB,
whichever is larger: CPython's allocator and glibc's malloc hand memory back in steps and keep freed
arenas, so a process that does not leak still moves by tens of MiB, while a leak of a few KiB per request
crosses the bound within the run (the verdict prints the smallest leak per request the bound would
catch). Open fds may grow by 10: a few keep-alive connections and Temporal's channels come and go.
The figures are printed as a table; no assertion is about time. The verdict itself is checked on
made-up samples by a fast test that runs in the default suite.

Environment: SOAK_MINUTES (default 30), SOAK_SAMPLE_SECONDS (default 60), SOAK_CLIENTS (default 4).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import uuid
from collections import Counter
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from tests.helpers.api_server import REPO_ROOT
from tests.helpers.batch_functions import MARKED
from tests.helpers.callback_receiver import CallbackReceiver
from tests.helpers.callback_receiver import serving as serving_receiver
from tests.helpers.function_bundles import batch_bundle, chain_bundle
from tests.helpers.model_servers.model_server import ModelServer
from tests.helpers.model_servers.serving import serving as serving_model
from tests.helpers.run_functions import SLOW
from tests.helpers.worker_process import worker_environment, worker_processes
from worker.dev_server import HOST, free_port

SOAK_MINUTES = float(os.environ.get("SOAK_MINUTES", "30"))
SAMPLE_SECONDS = float(os.environ.get("SOAK_SAMPLE_SECONDS", "60"))
CLIENTS = int(os.environ.get("SOAK_CLIENTS", "4"))
PAUSE_SECONDS = 0.05  # between two operations of one client: steady traffic, not a load test
WARM_UP_SHARE = 0.2
RSS_GROWTH_SHARE = 0.15
RSS_GROWTH_FLOOR_KIB = 40 * 1024
FD_GROWTH = 10
# Setting up, draining the last runs and the callbacks: well inside 5 minutes even on a loaded machine.
TIMEOUT_SECONDS = int(SOAK_MINUTES * 60 + 300)

SECRET = "soaksecret"  # noqa: S105 -- signs the test receiver's callbacks, never a real secret
MODEL_KEY = "sk-soak"
DECK = """
[models.test-llm]
type = "llm"
provider = "openai"
model = "test-model"

[aliases.llm]
default-general = "test-llm"
"""
HELLO = (REPO_ROOT / "docs" / "examples" / "hello.mthds").read_text(encoding="utf-8")
LLM = """domain = "soak_llm"
main_pipe = "greet"

[pipe.greet]
type = "PipeLLM"
description = "Greets"
inputs = { name = "Text" }
output = "Text"
prompt = "Say hello to {{ name }}."
"""
BATCH = batch_bundle(MARKED, "soak_batch")
SLOW_CHAIN = chain_bundle(SLOW, 3, "soak_cancel")  # 3 steps of SLOW_SECONDS: cancelled in the first
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED"}


@dataclass
class Sample:
    at: float  # seconds since the traffic began
    requests: int  # API requests sent so far
    api: tuple[int, int]  # (VmRSS KiB, open fds)
    worker: tuple[int, int]


def process_figures(pid: int) -> tuple[int, int]:
    """(VmRSS in KiB, number of open file descriptors) of a live process, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


@dataclass
class Traffic:
    """One API's clients' shared book: answers by route and status, surprises, accepted runs."""

    client: httpx.AsyncClient
    requests: int = 0
    answers: Counter[str] = field(default_factory=Counter[str])
    surprises: list[str] = field(default_factory=list[str])
    runs: dict[str, str] = field(default_factory=dict[str, str])  # run id -> the state it must end in
    called_back: set[str] = field(default_factory=set[str])  # runs started with callback_urls

    async def call(
        self, label: str, method: str, url: str, expect: int, code: str | None = None, **options: Any
    ) -> dict[str, Any]:
        """Send one request; an answer other than `expect` (and problem `code`) is a surprise."""
        self.requests += 1
        try:
            answer = await self.client.request(method, url, **options)
        except httpx.HTTPError as exc:
            self.surprises.append(f"{label}: {type(exc).__name__}: {exc}")
            return {}
        self.answers[f"{label} {answer.status_code}"] += 1
        problem = answer.headers.get("content-type") == "application/problem+json"
        body: Any = answer.json() if "json" in answer.headers.get("content-type", "") else {}
        if answer.status_code != expect or (code is not None and (not problem or body.get("code") != code)):
            self.surprises.append(f"{label}: {answer.status_code} {answer.text[:300]}")
            return {}
        return cast("dict[str, Any]", body) if isinstance(body, dict) else {"items": body}

    async def follow(self, run_id: str, within: float = 120) -> None:
        """Read a started run as a client does (progress, status until it ends, results, events)."""
        await self.call("progress", "GET", f"/v1/runs/{run_id}/progress", 200)
        deadline = asyncio.get_running_loop().time() + within
        state = ""
        while state not in TERMINAL and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.25)
            state = (await self.call("status", "GET", f"/v1/runs/{run_id}/status", 200)).get("state", "")
        if state != self.runs[run_id]:
            self.surprises.append(f"run {run_id} ended {state or 'never'}, not {self.runs[run_id]}")
            return
        if state == "COMPLETED":
            await self.call("results", "GET", f"/v1/runs/{run_id}/results", 200)
        await self.call("events", "GET", f"/v1/runs/{run_id}/events", 200, timeout=60)

    async def start(self, body: dict[str, Any], ends: str) -> str:
        run_id = f"soak-{uuid.uuid4()}"
        accepted = await self.call(
            "start", "POST", "/v1/start", 202, json={**body, "pipeline_run_id": run_id}
        )
        if accepted:
            self.runs[run_id] = ends
        return run_id if accepted else ""


async def execute_hello(traffic: Traffic, turn: int) -> None:
    body = {"mthds_contents": [HELLO], "inputs": {"name": f"guest {turn}"}}
    if (await traffic.call("execute", "POST", "/v1/execute", 200, json=body)).get("state") != "COMPLETED":
        traffic.surprises.append(f"execute of hello {turn} did not complete")


async def execute_llm(traffic: Traffic, turn: int) -> None:
    body = {"mthds_contents": [LLM], "inputs": {"name": f"guest {turn}"}}
    if (await traffic.call("execute-llm", "POST", "/v1/execute", 200, json=body)).get("state") != "COMPLETED":
        traffic.surprises.append(f"execute of the LLM bundle {turn} did not complete")


async def start_and_follow(traffic: Traffic, turn: int) -> None:
    run_id = await traffic.start(
        {"mthds_contents": [HELLO], "inputs": {"name": f"guest {turn}"}}, "COMPLETED"
    )
    if run_id:
        await traffic.follow(run_id)


async def start_with_callback(traffic: Traffic, turn: int, receiver_url: str) -> None:
    body = {"mthds_contents": [HELLO], "inputs": {"name": f"guest {turn}"}, "callback_urls": [receiver_url]}
    run_id = await traffic.start(body, "COMPLETED")
    if run_id:
        traffic.called_back.add(run_id)
        await traffic.follow(run_id)


async def small_batch(traffic: Traffic, turn: int) -> None:
    items = [f"ok-{turn}-{index}" for index in range(8)]
    run_id = await traffic.start({"mthds_contents": [BATCH], "inputs": {"items": items}}, "COMPLETED")
    if run_id:
        await traffic.follow(run_id)
        await traffic.call("items", "GET", f"/v1/runs/{run_id}/results/items?offset=0&limit=100", 200)


async def cancelled_start(traffic: Traffic, turn: int) -> None:
    run_id = await traffic.start(
        {"mthds_contents": [SLOW_CHAIN], "inputs": {"name": f"c{turn}"}}, "CANCELLED"
    )
    if run_id:
        await traffic.call("cancel", "POST", f"/v1/runs/{run_id}/cancel", 202, json={"reason": "soak"})
        await traffic.follow(run_id)


async def method_tools(traffic: Traffic, turn: int) -> None:
    # A new text each time: validation is never answered from a cache.
    text = HELLO.replace('description = "An offline', f'description = "Soak {turn}: an offline', 1)
    verdict = await traffic.call("validate", "POST", "/v1/validate", 200, json={"mthds_contents": [text]})
    if verdict.get("is_valid") is not True:
        traffic.surprises.append(f"validate {turn}: {verdict}")
    await traffic.call(
        "pipe-io", "POST", "/v1/pipe-io", 200, json={"mthds_contents": [HELLO], "all_pipes": True}
    )
    await traffic.call("format", "POST", "/v1/format", 200, json={"content": text})
    await traffic.call("runs", "GET", "/v1/runs?limit=20", 200)


async def bad_requests(traffic: Traffic, turn: int) -> None:
    unknown = f"soak-unknown-{turn}"
    await traffic.call("bad", "POST", "/v1/validate", 422, "request.malformed", content=b"{not json")
    body: dict[str, Any] = {"mthds_contents": [HELLO], "inputs": {}}
    await traffic.call("bad", "POST", "/v1/start", 422, "input.missing", json=body)
    await traffic.call("bad", "GET", f"/v1/runs/{unknown}/status", 404, "run.not_found")
    await traffic.call("bad", "POST", f"/v1/runs/{unknown}/cancel", 404, "run.not_found")
    await traffic.call("bad", "GET", "/v1/runs?state=", 422, "request.invalid")


Operation = Callable[[Traffic, int], Awaitable[None]]


async def client_loop(traffic: Traffic, operations: list[Operation], first: int, until: float) -> None:
    turn = first
    while asyncio.get_running_loop().time() < until:
        await operations[turn % len(operations)](traffic, turn)
        turn += 1
        await asyncio.sleep(PAUSE_SECONDS)


async def sample_until(traffic: Traffic, pids: tuple[int, int], began: float, until: float) -> list[Sample]:
    """A sample now, then every SAMPLE_SECONDS until `until` (the last one at `until`)."""
    loop = asyncio.get_running_loop()
    samples: list[Sample] = []
    while True:
        now = loop.time()
        samples.append(
            Sample(now - began, traffic.requests, process_figures(pids[0]), process_figures(pids[1]))
        )
        if now >= until - 1:
            return samples
        await asyncio.sleep(min(SAMPLE_SECONDS, until - now))


@asynccontextmanager
async def api_process(env: dict[str, str], log_path: Path) -> AsyncGenerator[tuple[str, int]]:
    """The API in a process of its own (uvicorn on a loopback port); yields (base URL, pid)."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "api.main:create_app", "--factory"]
    command += ["--host", HOST, "--port", str(port), "--log-level", "warning"]
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *command, cwd=REPO_ROOT, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log
        )
    base_url = f"http://{HOST}:{port}"
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=1) as probe:
            for _ in range(600):
                if process.returncode is not None:
                    output = await asyncio.to_thread(log_path.read_text, errors="replace")
                    msg = f"the API exited at start-up:\n{output}"
                    raise AssertionError(msg)
                try:
                    if (await probe.get("/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                output = await asyncio.to_thread(log_path.read_text, errors="replace")
                msg = f"the API did not answer within 60 s:\n{output}"
                raise AssertionError(msg)
        yield base_url, process.pid
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()


@dataclass
class Growth:
    what: str
    baseline: float  # median after the warm-up, before the last third
    final: float  # median of the last third
    bound: float

    @property
    def flat(self) -> bool:
        return self.final - self.baseline <= self.bound


def growths(samples: list[Sample], minutes: float) -> list[Growth]:
    """RSS and fds of both processes: the last third of the time against the time after the warm-up."""
    span = minutes * 60
    middle = [sample for sample in samples if WARM_UP_SHARE * span <= sample.at < span * 2 / 3]
    last = [sample for sample in samples if sample.at >= span * 2 / 3]
    assert middle, f"no sample between the warm-up and the last third: sample more often ({samples})"
    assert last, f"no sample in the last third ({samples})"
    result: list[Growth] = []
    for name in ("api", "worker"):
        rss = [statistics.median(getattr(sample, name)[0] for sample in part) for part in (middle, last)]
        fds = [statistics.median(getattr(sample, name)[1] for sample in part) for part in (middle, last)]
        rss_bound = max(RSS_GROWTH_SHARE * rss[0], RSS_GROWTH_FLOOR_KIB)
        result.append(Growth(f"{name} RSS KiB", rss[0], rss[1], rss_bound))
        result.append(Growth(f"{name} open fds", fds[0], fds[1], FD_GROWTH))
    return result


def report(samples: list[Sample], found: list[Growth], traffic: Traffic, minutes: float) -> str:
    """The samples table, the verdict of each figure and the answers counted, as printed at the end."""
    lines = [
        f"\nsoak: {minutes:g} min of mixed traffic, {CLIENTS} clients, a sample every {SAMPLE_SECONDS:g} s",
        f"{'t (s)':>7} {'requests':>9} {'API RSS MiB':>12} {'API fds':>8} {'worker RSS MiB':>15} {'worker fds':>11}",
    ]
    lines += [
        f"{sample.at:7.0f} {sample.requests:9d} {sample.api[0] / 1024:12.1f} {sample.api[1]:8d}"
        f" {sample.worker[0] / 1024:15.1f} {sample.worker[1]:11d}"
        for sample in samples
    ]
    span = minutes * 60
    middle = [sample.requests for sample in samples if WARM_UP_SHARE * span <= sample.at < span * 2 / 3]
    last = [sample.requests for sample in samples if sample.at >= span * 2 / 3]
    between = max(statistics.median(last) - statistics.median(middle), 1) if middle and last else 1
    for growth in found:
        verdict = "flat" if growth.flat else "GROWS"
        line = f"{growth.what}: {growth.baseline:.0f} -> {growth.final:.0f} (bound +{growth.bound:.0f}) {verdict}"
        if "RSS" in growth.what:
            line += f"; catches a leak of >= {growth.bound / between:.1f} KiB per request"
        lines.append(line)
    lines.append("answers: " + ", ".join(f"{key} x{count}" for key, count in sorted(traffic.answers.items())))
    return "\n".join(lines) + "\n"


async def drain(traffic: Traffic, receiver: CallbackReceiver, within: float = 120) -> None:
    """Every accepted run ended as it must, and every run with a callback URL was called back."""
    reading = asyncio.Semaphore(CLIENTS)

    async def check(run_id: str, ends: str) -> None:
        async with reading:
            state = (await traffic.call("status", "GET", f"/v1/runs/{run_id}/status", 200)).get("state")
        if state != ends:
            traffic.surprises.append(f"run {run_id} is {state} at the end, not {ends}")

    await asyncio.gather(*(check(run_id, ends) for run_id, ends in traffic.runs.items()))
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        missing = traffic.called_back - called_back(receiver)
        if not missing:
            return
        await asyncio.sleep(0.5)
    traffic.surprises.append(f"runs never called back: {sorted(traffic.called_back - called_back(receiver))}")


def called_back(receiver: CallbackReceiver) -> set[str]:
    """The runs whose `run.finished` event reached the receiver (named by its result URL)."""
    return {json.loads(item.body)["result_url"].rsplit("/", 2)[-2] for item in receiver.received}


def test_the_verdict_tells_a_steady_climb_from_a_warm_up() -> None:
    """The criterion itself, on made-up samples (no soak needed): a warm-up jump passes, a climb fails."""
    minutes = 10
    at = [60.0 * minute for minute in range(minutes + 1)]
    warm_up = [Sample(t, 0, (100_000 if t < 60 else 160_000, 20), (200_000, 30)) for t in at]
    assert all(growth.flat for growth in growths(warm_up, minutes))
    climbing = [Sample(t, 0, (100_000 + int(t) * 200, 20), (200_000, 30 + int(t) // 20)) for t in at]
    verdicts = {growth.what: growth.flat for growth in growths(climbing, minutes)}
    assert verdicts == {
        "api RSS KiB": False,
        "api open fds": True,
        "worker RSS KiB": True,
        "worker open fds": False,
    }


@pytest.mark.soak
@pytest.mark.timeout(TIMEOUT_SECONDS)
async def test_memory_and_open_files_stay_flat_under_mixed_traffic(
    temporal_address: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deck = tmp_path / "deck.toml"
    deck.write_text(DECK, encoding="utf-8")
    model = ModelServer("openai", api_key=MODEL_KEY)
    shared = {
        "FUNCTION_MODULES": "tests.helpers.batch_functions,tests.helpers.run_functions",
        "MODEL_DECK": str(deck),
        "COMPLETION_CALLBACK_SECRET": SECRET,
        "ALLOW_PRIVATE_CALLBACK_URLS": "true",
    }
    env = worker_environment(temporal_address, f"soak-{uuid.uuid4()}", tmp_path / "data", **shared)
    worker_env = {**env, "OPENAI_BASE_URL": model.base_url, "OPENAI_API_KEY": MODEL_KEY, "SLOW_SECONDS": "2"}
    api_env = {**env, "LOG_LEVEL": "WARNING"}
    async with serving_receiver(CallbackReceiver([200])) as receiver, serving_model(model):
        with worker_processes(worker_env, tmp_path) as workers:
            worker = workers.start()
            await worker.wait_polling()
            async with (
                api_process(api_env, tmp_path / "api.log") as (base_url, api_pid),
                httpx.AsyncClient(base_url=base_url, timeout=120) as client,
            ):
                traffic = Traffic(client)

                async def with_callback(traffic: Traffic, turn: int) -> None:
                    await start_with_callback(traffic, turn, receiver.url)

                operations: list[Operation] = [
                    execute_hello, method_tools, start_and_follow, bad_requests, small_batch,
                    execute_llm, with_callback, method_tools, cancelled_start, execute_hello,
                ]  # fmt: skip
                loop = asyncio.get_running_loop()
                began = loop.time()
                until = began + SOAK_MINUTES * 60
                sampling = asyncio.create_task(
                    sample_until(traffic, (api_pid, worker.process.pid), began, until)
                )
                await asyncio.gather(
                    *(client_loop(traffic, operations, index * 3, until) for index in range(CLIENTS))
                )
                samples = await sampling
                await drain(traffic, receiver)
    found = growths(samples, SOAK_MINUTES)
    with capsys.disabled():
        sys.stdout.write(report(samples, found, traffic, SOAK_MINUTES))
    assert not traffic.surprises, "\n".join(traffic.surprises[:50])
    assert all(growth.flat for growth in found), found
