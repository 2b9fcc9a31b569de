"""Throughput of the method tooling routes, ours beside the reference server in one run; prints figures,
asserts nothing (issue 16, Speed).

Boots the reference (pipelex-api 0.92.2 from `.cache/reference-venv`, through bench/compare_reference.py)
and our API (`uvicorn api.main:create_app --factory`, AUTH_MODE=none, a temporary DATA_DIR and no Temporal:
these routes never reach it), then sends the corpus's valid methods to `/v1/validate`, `/v1/pipe-io`
(`{"files": {path: text}}`) and `/v1/format` (`{"content": text}`, one per bundle) from C concurrent
clients: an untimed warm-up pass, then N requests per route per server in ABBA halves (reference, ours,
ours, reference) so drift on the machine hits both alike. Prints requests/s, p50/p95/p99 latency, CPU ms
per request of the server and of this client, every failure (any answer but a 200, or a verdict that is
not valid), and ours/reference per route (target: pipe-io and format >= 10x). Last, `GET /health` the
same way: the floor of a request on each server (HTTP stack and middleware, no route work). Nothing is
pinned: both servers and this client share the machine's CPUs.

Run from the repo root once `make compare-reference` has installed the reference:
`.venv/bin/python bench/tooling.py [--requests N] [--concurrency C]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

# Run as a script, Python puts `bench/` first on sys.path; the repo root is needed to import `bench` and `tests`.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.compare_reference import REFERENCE_VENV, ServerDidNotStart, free_port, reference_server
from bench.runs import at_concurrency, load_average, quantile_ms
from tests.conformance.corpus import CorpusEntry, CorpusUnavailableError, Validity, fetch_wheel, load_entries

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REQUESTS = 300
DEFAULT_CONCURRENCY = 8
BOOT_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 120.0
FAILURE_EXAMPLES = 5
# Issue 16: our pipe-io and format at least ten times the reference's requests/s.
RATIO_TARGETS = {"/v1/pipe-io": 10.0, "/v1/format": 10.0}
# Routes answering a verdict: a 200 counts only when the method is found valid (it is, in the corpus).
VERDICT_ROUTES = frozenset({"/v1/validate", "/v1/pipe-io"})
# Sent bodiless (GET) beside the routes: what a request costs each server when the route does no work.
FLOOR_ROUTE = "/health"
WARM_UP_FLOOR = 50
REFERENCE_MARKER = "pipelex_api.main:app"  # in the reference server's command line: finds its pid
INSTALL_HINT = (
    "run `make compare-reference` once (it installs pipelex-api==0.92.2 into .cache/reference-venv), or: "
    "python3 -m venv .cache/reference-venv && .cache/reference-venv/bin/pip install pipelex-api==0.92.2"
)

Body = dict[str, Any]


class OurServerDidNotStart(RuntimeError):
    """Our API process exited or never answered `/health`; the message holds its log's tail."""


@dataclass(frozen=True)
class Server:
    """A booted server: where it answers, and its process id when known (for its CPU seconds)."""

    name: str
    base: str
    pid: int | None


def reference_missing() -> str | None:
    """Why the reference cannot be booted (with how to install it), or None when it is installed."""
    if (REFERENCE_VENV / "bin" / "uvicorn").is_file():
        return None
    return f"the reference server is not installed in {REFERENCE_VENV}: {INSTALL_HINT}"


def valid_entries() -> list[CorpusEntry]:
    return [entry for entry in load_entries(fetch_wheel()) if entry.manifest.validity is Validity.VALID]


def method_body(entry: CorpusEntry) -> Body:
    """The crate routes' request for an entry: its bundles as a `files` map (the reference refuses
    `mthds_contents` there)."""
    return {"files": {bundle.path: bundle.text for bundle in entry.bundles}}


def format_bodies(entries: list[CorpusEntry]) -> list[Body]:
    return [{"content": bundle.text} for entry in entries for bundle in entry.bundles]


def _our_env(scratch: Path) -> dict[str, str]:
    """A minimal environment, as the reference gets: no inherited setting (Temporal, keys, storage) reaches it."""
    data_dir = scratch / "ours-data"
    data_dir.mkdir(exist_ok=True)
    bin_dir = Path(sys.executable).parent
    return {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(scratch),
        "LANG": "C.UTF-8",
        "AUTH_MODE": "none",
        "DATA_DIR": str(data_dir),
    }


@contextlib.contextmanager
def our_server(scratch: Path) -> Generator[Server]:
    """Our API in a uvicorn process on a free loopback port, yielded once `/health` answers; stopped on exit.

    No TEMPORAL_ADDRESS: the app connects to Temporal lazily, on the first route that needs it, and the
    tooling routes never do.
    """
    port = free_port()
    log_path = scratch / "ours.log"
    command = [str(Path(sys.executable).parent / "uvicorn"), "api.main:create_app", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("wb") as log:
        server = subprocess.Popen(  # noqa: S603 - fixed argv, our own venv
            command, cwd=REPO_ROOT, env=_our_env(scratch), stdout=log, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + BOOT_TIMEOUT_S
        while not _answers_health(base):
            if server.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
                msg = f"our API did not start (exit {server.poll()}):\n{tail}"
                raise OurServerDidNotStart(msg)
            time.sleep(0.2)
        yield Server("ours", base, server.pid)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _answers_health(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def both_servers(scratch: Path) -> Generator[tuple[Server, Server]]:
    """The reference and our API, both up at once: `(reference, ours)`.

    Raises `ServerDidNotStart` or `OurServerDidNotStart` with the failing server's log tail.
    """
    reference_dir = scratch / "reference"  # the reference writes `.pipelex/` under its working directory
    reference_dir.mkdir()
    with reference_server(reference_dir) as reference_base, our_server(scratch) as ours:
        yield Server("reference", reference_base, child_pid(REFERENCE_MARKER)), ours


def child_pid(marker: str) -> int | None:
    """The pid of this process's child whose command line holds `marker` (Linux /proc; else None)."""
    with contextlib.suppress(OSError):
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError, IndexError, ValueError):
                parent = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
                if parent == os.getpid() and marker.encode() in (entry / "cmdline").read_bytes():
                    return int(entry.name)
    return None


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of a process, all its threads (Linux /proc; else None)."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Tally:
    """One server's figures on one route, summed over its measured halves."""

    durations: list[float] = field(default_factory=list[float])
    elapsed: float = 0.0
    server_cpu: float | None = 0.0
    client_cpu: float = 0.0
    failures: Counter[str] = field(default_factory=Counter[str])

    @property
    def requests(self) -> int:
        return len(self.durations)

    @property
    def per_second(self) -> float:
        return self.requests / self.elapsed if self.elapsed else 0.0


def failure_of(path: str, response: httpx.Response) -> str | None:
    """Why an answer does not count as a success, or None: any status but 200, or an invalid verdict."""
    if response.status_code != 200:
        try:
            problem: dict[str, Any] = response.json()
        except ValueError:
            return f"HTTP {response.status_code}: {response.text[:200]}"
        return (
            f"HTTP {response.status_code} {problem.get('code', '')}: {str(problem.get('detail', ''))[:200]}"
        )
    if path not in VERDICT_ROUTES:
        return None
    verdict: dict[str, Any] = response.json()
    if verdict.get("is_valid") is True:
        return None
    errors: list[dict[str, Any]] = verdict.get("errors") or verdict.get("validation_errors") or [{}]
    return f"is_valid {verdict.get('is_valid')}: {errors[0].get('code')} {str(errors[0].get('detail'))[:160]}"


async def measure(
    http: httpx.AsyncClient,
    server: Server,
    path: str,
    bodies: list[Body],
    count: int,
    concurrency: int,
    tally: Tally,
) -> None:
    """Send `count` requests (cycling over `bodies`; GETs when there are none) on `concurrency` lanes and
    add the figures to `tally`."""
    answers: dict[int, httpx.Response | httpx.HTTPError] = {}

    async def one(index: int) -> None:
        try:
            if bodies:
                answers[index] = await http.post(path, json=bodies[index % len(bodies)])
            else:
                answers[index] = await http.get(path)
        except httpx.HTTPError as exc:  # counted as a failure below, with its own message
            answers[index] = exc

    server_before, client_before = cpu_seconds(server.pid), _own_cpu()
    elapsed, durations = await at_concurrency(count, concurrency, one)
    server_after = cpu_seconds(server.pid)
    tally.client_cpu += _own_cpu() - client_before
    if server_before is None or server_after is None or tally.server_cpu is None:
        tally.server_cpu = None
    else:
        tally.server_cpu += server_after - server_before
    tally.elapsed += elapsed
    tally.durations += durations
    for answer in answers.values():
        reason = (
            f"{type(answer).__name__}: {answer}"
            if isinstance(answer, httpx.HTTPError)
            else failure_of(path, answer)
        )
        if reason is not None:
            tally.failures[reason] += 1


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def figures_line(label: str, tally: Tally) -> str:
    if not tally.durations:
        return f"  {label:<10} no requests"
    server_cpu = "    n/a" if tally.server_cpu is None else f"{tally.server_cpu * 1000 / tally.requests:7.2f}"
    return (
        f"  {label:<10} {tally.requests:>6} req {tally.per_second:9.1f} req/s  "
        f"p50 {quantile_ms(tally.durations, 50):8.2f}  p95 {quantile_ms(tally.durations, 95):8.2f}  "
        f"p99 {quantile_ms(tally.durations, 99):8.2f} ms  "
        f"cpu ms/req server {server_cpu} client {tally.client_cpu * 1000 / tally.requests:5.2f}  "
        f"failures {sum(tally.failures.values())}"
    )


def print_failures(label: str, tally: Tally) -> None:
    for reason, times in tally.failures.most_common(FAILURE_EXAMPLES):
        print(f"    {label} failure x{times}: {reason}")
    if len(tally.failures) > FAILURE_EXAMPLES:
        print(f"    {label}: {len(tally.failures) - FAILURE_EXAMPLES} more kinds of failure")


def ratio_line(path: str, reference: Tally, ours: Tally) -> str:
    if not reference.per_second or not ours.per_second:
        return "  ours/reference: n/a"
    ratio = ours.per_second / reference.per_second
    line = f"  ours/reference {ratio:6.1f}x requests/s"
    line += f", p50 latency {quantile_ms(ours.durations, 50) / quantile_ms(reference.durations, 50):.3f}x"
    if path in RATIO_TARGETS:
        target = RATIO_TARGETS[path]
        line += f"  (target >= {target:g}x: {'met' if ratio >= target else 'MISSED'})"
    if reference.failures or ours.failures:
        line += "  -- figures include failed requests: not comparable"
    return line


async def bench(
    servers: tuple[Server, Server], routes: dict[str, list[Body]], count: int, concurrency: int
) -> None:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    clients = {
        server.name: httpx.AsyncClient(base_url=server.base, limits=limits, timeout=REQUEST_TIMEOUT_S)
        for server in servers
    }
    try:
        for path, bodies in routes.items():  # the warm-up pass: imports, caches, connections
            for server in servers:
                warm_up = len(bodies) or WARM_UP_FLOOR
                await measure(clients[server.name], server, path, bodies, warm_up, concurrency, Tally())
        reference, ours = servers
        first, second = count // 2, count - count // 2
        for path, bodies in routes.items():
            tallies = {server.name: Tally() for server in servers}
            for server, half in ((reference, first), (ours, first), (ours, second), (reference, second)):
                await measure(
                    clients[server.name], server, path, bodies, half, concurrency, tallies[server.name]
                )
            what = (
                f"{len(bodies)} distinct bodies" if bodies else "GET: the HTTP floor, a route doing no work"
            )
            print(f"{path} ({what})")
            for server in servers:
                print(figures_line(server.name, tallies[server.name]))
                print_failures(server.name, tallies[server.name])
            print(ratio_line(path, tallies[reference.name], tallies[ours.name]))
    finally:
        for client in clients.values():
            await client.aclose()


def parse_options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--requests", type=int, default=DEFAULT_REQUESTS, help="measured requests per route per server"
    )
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="concurrent clients")
    return parser.parse_args()


def main() -> int:
    options = parse_options()
    count: int = max(2, options.requests)
    concurrency: int = max(1, options.concurrency)
    if (missing := reference_missing()) is not None:
        print(missing)
        return 2
    try:
        entries = valid_entries()
    except CorpusUnavailableError as exc:
        print(f"corpus unavailable: {exc}")
        return 1
    method_bodies = [method_body(entry) for entry in entries]
    routes: dict[str, list[Body]] = {
        "/v1/validate": method_bodies,
        "/v1/pipe-io": method_bodies,
        "/v1/format": format_bodies(entries),
        FLOOR_ROUTE: [],
    }
    print(
        f"tooling routes: {len(entries)} valid corpus methods, {count} requests per route per server after a "
        f"warm-up pass, {concurrency} concurrent clients"
    )
    print(
        f"both servers (one uvicorn process each) and this client share {os.cpu_count()} CPUs, nothing pinned; "
        f"{load_average()} before the run"
    )
    with tempfile.TemporaryDirectory(prefix="bench-tooling-") as scratch:
        try:
            with both_servers(Path(scratch)) as servers:
                asyncio.run(bench(servers, routes, count, concurrency))
        except (ServerDidNotStart, OurServerDidNotStart) as exc:
            print(exc)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
