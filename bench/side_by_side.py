"""The workloads sent to both servers in one run: `/v1/validate`, `/v1/pipe-io` and `/v1/format` over the
corpus's valid methods, `/v1/execute` of the offline corpus bundles at concurrency 1, 8 and 32.

Each server gets the same bodies in the same order. Per workload: an untimed warm-up pass (every body once
per server), then R repetitions, the servers' order alternating (reference first, then ours first) so drift
on the shared machine hits both alike. Execute sends only the offline bundles both servers ran in the
warm-up pass (a bundle one side refuses would measure a refusal, not a run).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from bench.compare_reference import pipe_ref_of
from bench.process_meter import ProcessMeter
from bench.report_figures import Repetition, Side, TargetKind, Workload
from bench.runs import at_concurrency
from bench.tooling import failure_of, format_bodies, method_body
from tests.conformance.corpus import CorpusEntry

Body = dict[str, Any]
Check = Callable[[str, httpx.Response], str | None]
EXECUTE = "/v1/execute"
VALIDATE_TARGET = 20.0  # issue 18: validate >= 20x the reference's requests/s
EXECUTE_TARGET_C8 = 4.0  # issue 18: execute >= 4x at concurrency 8


@dataclass(frozen=True)
class Server:
    """A server under test: where it answers, and the processes whose spend counts for it."""

    name: str
    base: str
    meter: ProcessMeter


def execute_failure(path: str, response: httpx.Response) -> str | None:
    """Any answer but a 200 of a completed run (ours says `state`; the reference's 200 is its verdict)."""
    del path
    if response.status_code != 200:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    state = response.json().get("state")
    return None if state in (None, "COMPLETED") else f"run ended {state}"


def execute_body(entry: CorpusEntry) -> Body:
    return {
        "mthds_contents": [bundle.text for bundle in entry.bundles],
        "inputs": entry.inputs or {},
        "pipe_code": pipe_ref_of(entry),
    }


async def repetition(
    http: httpx.AsyncClient,
    server: Server,
    path: str,
    bodies: Sequence[Body],
    count: int,
    concurrency: int,
    check: Check,
) -> tuple[Repetition, list[str]]:
    """`count` POSTs of `bodies` (cycling) on `concurrency` lanes, with the server's processes metered."""
    failures: list[str] = []

    async def one(index: int) -> None:
        try:
            response = await http.post(path, json=bodies[index % len(bodies)])
        except httpx.HTTPError as exc:
            failures.append(f"{type(exc).__name__}: {exc}")
            return
        if (reason := check(path, response)) is not None:
            failures.append(reason)

    async with server.meter.measuring() as usage:
        elapsed, durations = await at_concurrency(count, concurrency, one)
    measured = Repetition(count, elapsed, durations, len(failures), usage.cpu_seconds, usage.peak_rss_mib)
    return measured, failures


@dataclass(frozen=True)
class Plan:
    """One workload as both servers get it."""

    key: str
    title: str
    path: str
    bodies: Sequence[Body]
    count: int
    concurrency: int
    check: Check
    target_kind: TargetKind | None = None
    target_value: float | None = None


class SideBySide:
    """Both servers, a client for each, and the number of repetitions of every workload."""

    def __init__(self, servers: tuple[Server, Server], repetitions: int) -> None:
        self.servers = servers  # (reference, ours)
        self.repetitions = repetitions
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        self.clients = {
            server.name: httpx.AsyncClient(base_url=server.base, limits=limits, timeout=300)
            for server in servers
        }

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()

    async def warm_up(self, path: str, bodies: Sequence[Body], check: Check) -> list[bool]:
        """Every body once to each server, one at a time; per body, whether both answered well."""
        fine = [True] * len(bodies)
        for server in self.servers:
            for index, body in enumerate(bodies):
                try:
                    response = await self.clients[server.name].post(path, json=body)
                except httpx.HTTPError:
                    fine[index] = False
                    continue
                fine[index] = fine[index] and check(path, response) is None
        return fine

    async def measure(self, plan: Plan) -> Workload:
        sides = {server.name: Side(server.name, server.meter.counted) for server in self.servers}
        for number in range(self.repetitions):
            order = self.servers if number % 2 == 0 else tuple(reversed(self.servers))
            for server in order:
                client = self.clients[server.name]
                measured, failures = await repetition(
                    client, server, plan.path, plan.bodies, plan.count, plan.concurrency, plan.check
                )
                sides[server.name].repetitions.append(measured)
                sides[server.name].failure_examples += failures[:5]
        print(f"  measured {plan.key}: {plan.count} requests x {self.repetitions} per server", flush=True)
        return Workload(
            plan.key,
            plan.title,
            plan.concurrency,
            "request",
            [sides[self.servers[1].name], sides[self.servers[0].name]],
            baseline=self.servers[0].name,
            target_kind=plan.target_kind,
            target_value=plan.target_value,
        )


async def tooling_workloads(
    side_by_side: SideBySide, entries: list[CorpusEntry], count: int, concurrency: int
) -> list[Workload]:
    """validate, pipe-io and format, each after its warm-up pass."""
    methods = [method_body(entry) for entry in entries]
    plans = [
        Plan("validate", f"/v1/validate, {len(methods)} corpus methods", "/v1/validate", methods, count,
             concurrency, failure_of, "ratio_at_least", VALIDATE_TARGET),
        Plan("pipe-io", f"/v1/pipe-io, {len(methods)} corpus methods", "/v1/pipe-io", methods, count,
             concurrency, failure_of),
    ]  # fmt: skip
    formats = format_bodies(entries)
    plans.append(
        Plan("format", f"/v1/format, {len(formats)} corpus bundles", "/v1/format", formats, count,
             concurrency, failure_of)
    )  # fmt: skip
    workloads: list[Workload] = []
    for plan in plans:
        await side_by_side.warm_up(plan.path, plan.bodies, plan.check)
        workloads.append(await side_by_side.measure(plan))
    return workloads


async def execute_workloads(
    side_by_side: SideBySide, entries: list[CorpusEntry], counts: dict[int, int]
) -> list[Workload]:
    """`/v1/execute` of the offline bundles both servers run, at each concurrency of `counts`."""
    bodies = [execute_body(entry) for entry in entries]
    fine = await side_by_side.warm_up(EXECUTE, bodies, execute_failure)
    kept = [body for body, ok in zip(bodies, fine, strict=True) if ok]
    dropped = [entry.name for entry, ok in zip(entries, fine, strict=True) if not ok]
    print(f"  execute: {len(kept)} of {len(bodies)} offline bundles run on both servers; left out: {dropped}")
    workloads: list[Workload] = []
    for concurrency, count in counts.items():
        plan = Plan(
            f"execute-c{concurrency}",
            f"/v1/execute, {len(kept)} offline bundles, concurrency {concurrency}",
            EXECUTE,
            kept,
            count,
            concurrency,
            execute_failure,
            target_kind="ratio_at_least" if concurrency == 8 else None,
            target_value=EXECUTE_TARGET_C8 if concurrency == 8 else None,
        )
        workload = await side_by_side.measure(plan)
        workload.note = "ours durable (Temporal), the reference in-process" + (
            f"; left out (refused by a side): {', '.join(dropped)}" if dropped else ""
        )
        workloads.append(workload)
    return workloads
