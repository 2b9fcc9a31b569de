"""Run metrics of the API: runs it started (counted as Temporal accepts each start) and runs ended by
state, read from Temporal visibility.

The API never sees a run end (workers run it to its end), so the ended counts are asked of visibility
when `/metrics` is scraped, at most every `REFRESH_SECONDS`: the runs of this service's task queue that
closed since this process started, by state, and those still running. A run's state is its
`MethodflowState` when its workflow completed (a failed or cancelled run completes its workflow), else
what Temporal's status says (failed, timed out, cancelled, terminated). Counting from the process's start
makes a true counter: zero at start, growing, reset by a restart, as Prometheus expects. Every replica
counts the same runs, so dashboards take `max` across replicas, not `sum`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from temporalio import client
from temporalio.service import RPCError

from api.problems import ProblemError
from api.temporal_gateway import TemporalGateway
from shared.runs.names import RUN_WORKFLOW, STATE_ATTRIBUTE
from shared.runs.run_states import RunState
from shared.runs.timestamps import rfc3339

logger = logging.getLogger(__name__)

REFRESH_SECONDS = 5.0
COUNT_TIMEOUT = timedelta(seconds=2)


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _completed_as(state: RunState) -> str:
    return f"(ExecutionStatus = 'Completed' AND {STATE_ATTRIBUTE} = {_literal(state.value)})"


# The visibility filter of each end state: what the workflow recorded, or how Temporal ended it.
_ENDED_AS = {
    RunState.COMPLETED: _completed_as(RunState.COMPLETED),
    RunState.FAILED: f"(ExecutionStatus IN ('Failed', 'TimedOut') OR {_completed_as(RunState.FAILED)})",
    RunState.CANCELLED: (
        f"(ExecutionStatus IN ('Canceled', 'Terminated') OR {_completed_as(RunState.CANCELLED)})"
    ),
}


class RunMetrics:
    """`methodflow_runs_started_total{route}`, `methodflow_runs_finished_total{state}` and
    `methodflow_runs_running`, in `registry`, for the runs of `task_queue`.

    `route_of_request` names the route template of the request being served (the started counter's label).
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        task_queue: str,
        route_of_request: Callable[[], str],
        *,
        refresh_seconds: float = REFRESH_SECONDS,
    ) -> None:
        self.started = Counter(
            "methodflow_runs_started",
            "Runs this process started (a repeat of an earlier request starts none), by route template.",
            ["route"],
            registry=registry,
        )
        self.count_errors = Counter(
            "methodflow_run_counts_errors",
            "Refreshes of the run counts that Temporal visibility did not answer (the last counts stay).",
            registry=registry,
        )
        self.route_of_request = route_of_request
        self.since = datetime.now(UTC)
        self.refresh_seconds = refresh_seconds
        self._base = f"WorkflowType = {_literal(RUN_WORKFLOW)} AND TaskQueue = {_literal(task_queue)}"
        self._ended: dict[RunState, int] | None = None
        self._running = 0
        self._refreshed_at = float("-inf")
        self._lock = asyncio.Lock()
        registry.register(_RunCounts(self))

    def interceptor(self) -> client.Interceptor:
        """Counts the runs the API's client starts."""
        return _RunStarts(self)

    async def refresh(self, gateway: TemporalGateway) -> None:
        """Read the counts again unless they are fresh; when visibility does not answer, keep the last."""
        async with self._lock:
            if time.monotonic() - self._refreshed_at < self.refresh_seconds:
                return
            try:
                temporal = await gateway.client()
                ended, running = await self._count(temporal)
            except (ProblemError, RPCError, TimeoutError) as exc:
                self.count_errors.inc()
                logger.warning("run counts not refreshed: Temporal visibility did not answer (%s)", exc)
                return
            self._ended, self._running = ended, running
            self._refreshed_at = time.monotonic()

    async def _count(self, temporal: client.Client) -> tuple[dict[RunState, int], int]:
        closed_since = f"{self._base} AND CloseTime >= {_literal(rfc3339(self.since))}"
        queries = [f"{closed_since} AND {_ENDED_AS[state]}" for state in _ENDED_AS]
        queries.append(f"{self._base} AND ExecutionStatus = 'Running'")
        counts = await asyncio.gather(
            *(temporal.count_workflows(query, rpc_timeout=COUNT_TIMEOUT) for query in queries)
        )
        ended = {state: found.count for state, found in zip(_ENDED_AS, counts, strict=False)}
        return ended, counts[-1].count

    def families(self) -> Iterator[Metric]:
        if self._ended is None:  # never read yet: no made-up zeros
            return
        finished = CounterMetricFamily(
            "methodflow_runs_finished",
            "Runs of this service's task queue ended since this process started, by state, from Temporal "
            "visibility (every replica counts the same runs: aggregate with max).",
            labels=["state"],
        )
        for state, count in self._ended.items():
            finished.add_metric([state.value], count)
        yield finished
        running = GaugeMetricFamily(
            "methodflow_runs_running", "Runs of this service's task queue running now, from visibility."
        )
        running.add_metric([], self._running)
        yield running


class _RunCounts(Collector):
    def __init__(self, metrics: RunMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return self.metrics.families()


class _RunStarts(client.Interceptor):
    def __init__(self, metrics: RunMetrics) -> None:
        self.metrics = metrics

    def intercept_client(self, next: client.OutboundInterceptor) -> client.OutboundInterceptor:
        return _CountStarts(next, self.metrics)


class _CountStarts(client.OutboundInterceptor):
    def __init__(self, next: client.OutboundInterceptor, metrics: RunMetrics) -> None:
        super().__init__(next)
        self.metrics = metrics

    async def start_workflow(self, input: client.StartWorkflowInput) -> client.WorkflowHandle[Any, Any]:
        handle = await super().start_workflow(input)
        if input.workflow == RUN_WORKFLOW:
            self.metrics.started.labels(self.metrics.route_of_request()).inc()
        return handle
