"""The worker's Prometheus metrics at `GET /metrics` on `WORKER_METRICS_PORT`: ours and the Temporal SDK's.

Ours (`prometheus_client`, this module's `REGISTRY`): activities by type, pipe type and outcome with their
durations, model calls, tokens and cost by model, callback delivery attempts by outcome, batch items
done and failed. The SDK's (Temporal's runtime metrics: task slots, poll and schedule-to-start latencies,
workflow and activity completions...) come from its own Prometheus exporter.

One scrape port for both: the SDK's exporter (`PrometheusConfig`) listens on a free loopback port only this
process knows, and `/metrics` answers our registry's text followed by the exporter's, fetched over
loopback at scrape time. Two ports would need two scrape targets per pod and a second hole in the
NetworkPolicy; translating the SDK's `MetricBuffer` would mean re-implementing its histograms. The SDK
writes its series as documented by Temporal (`temporal_*`, durations in milliseconds); their families
never share a name with ours (`methodflow_*`), so the two texts concatenate into one valid exposition.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from temporalio import activity, client
from temporalio import worker as temporal_worker
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

from shared.runtime.usage import UsageRecord
from worker.settings import WorkerSettings

logger = logging.getLogger(__name__)

# Activities run from milliseconds (bookkeeping) to the activity timeout (600 s by default).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
SDK_SCRAPE_TIMEOUT_SECONDS = 5

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

ACTIVITIES = Counter(
    "methodflow_activities",
    "Activity attempts ended, by activity type, pipe type (operator activities) and outcome "
    "(completed, failed, cancelled).",
    ["activity", "pipe_type", "outcome"],
    registry=REGISTRY,
)
ACTIVITY_SECONDS = Histogram(
    "methodflow_activity_duration_seconds",
    "Time an activity attempt ran, by activity type and pipe type.",
    ["activity", "pipe_type"],
    buckets=DURATION_BUCKETS,
    registry=REGISTRY,
)
MODEL_CALLS = Counter(
    "methodflow_model_calls",
    "Model calls of completed operator activities, by deck model.",
    ["model"],
    registry=REGISTRY,
)
MODEL_TOKENS = Counter(
    "methodflow_model_tokens",
    "Tokens of those calls, by deck model and category (input, input_cached, output, images).",
    ["model", "category"],
    registry=REGISTRY,
)
MODEL_COST = Counter(
    "methodflow_model_cost_usd",
    "USD those calls cost at the deck's prices, by deck model (calls of unpriced models add nothing).",
    ["model"],
    registry=REGISTRY,
)
CALLBACK_ATTEMPTS = Counter(
    "methodflow_callback_attempts",
    "Completion callback delivery attempts, by outcome (delivered, gone, refused, retry).",
    ["outcome"],
    registry=REGISTRY,
)
CALLBACK_SECONDS = Histogram(
    "methodflow_callback_attempt_duration_seconds",
    "Time a callback delivery attempt took, until the receiver's answer or the failure.",
    buckets=DURATION_BUCKETS,
    registry=REGISTRY,
)
BATCH_ITEMS = Counter(
    "methodflow_batch_items",
    "Items of batches run as batch workflows, by outcome (done, failed), counted as each chunk ends.",
    ["outcome"],
    registry=REGISTRY,
)


# The pipe type of the operator activity this task runs, once it knows it (`note_pipe_type`).
_pipe_type: ContextVar[list[str] | None] = ContextVar("methodflow_pipe_type", default=None)


def note_pipe_type(pipe_type: str) -> None:
    """Label the running activity's metrics with the type of its pipe (PipeLLM, PipeFunc...): only the
    activity knows it, once it has read the run's method."""
    holder = _pipe_type.get()
    if holder is not None:
        holder[0] = pipe_type


class ActivityMetricsInterceptor(client.Interceptor, temporal_worker.Interceptor):
    """Counts and times every activity attempt by type, pipe type and outcome. On the client, so every
    worker built on it has it (`temporal_connection.connect`)."""

    def intercept_activity(
        self, next: temporal_worker.ActivityInboundInterceptor
    ) -> temporal_worker.ActivityInboundInterceptor:
        return _MeasuredActivity(next)


class _MeasuredActivity(temporal_worker.ActivityInboundInterceptor):
    async def execute_activity(self, input: temporal_worker.ExecuteActivityInput) -> Any:
        activity_type = activity.info().activity_type
        pipe_type = [""]
        token = _pipe_type.set(pipe_type)
        outcome = "failed"
        started = time.perf_counter()
        try:
            result = await super().execute_activity(input)
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        else:
            outcome = "completed"
            return result
        finally:
            _pipe_type.reset(token)
            ACTIVITY_SECONDS.labels(activity_type, pipe_type[0]).observe(time.perf_counter() - started)
            ACTIVITIES.labels(activity_type, pipe_type[0], outcome).inc()


def record_usages(usages: Iterable[UsageRecord]) -> None:
    """Count the model calls of an operator activity that completed."""
    for usage in usages:
        model = usage.inference_model_name
        MODEL_CALLS.labels(model).inc()
        for category, count in usage.nb_tokens_by_category.items():
            MODEL_TOKENS.labels(model, category).inc(count)
        if usage.cost:
            MODEL_COST.labels(model).inc(usage.cost)


def record_callback_attempt(outcome: str, seconds: float) -> None:
    CALLBACK_ATTEMPTS.labels(outcome).inc()
    CALLBACK_SECONDS.observe(seconds)


def record_batch_items(done: int, failed: int) -> None:
    BATCH_ITEMS.labels("done").inc(done)
    BATCH_ITEMS.labels("failed").inc(failed)


class WorkerMetricsServer:
    """`GET /metrics` on the worker's metrics port; `runtime` is what the worker's client connects with."""

    def __init__(self, runtime: Runtime, sdk_address: str) -> None:
        self.runtime = runtime
        self.sdk_address = sdk_address
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._answer, host, port)

    @property
    def port(self) -> int:
        if self._server is None:
            msg = "the metrics server is not started"
            raise RuntimeError(msg)
        return int(self._server.sockets[0].getsockname()[1])

    async def scrape(self) -> bytes:
        """Our metrics, then the SDK exporter's (left out, with a warning, when it does not answer)."""
        ours = generate_latest(REGISTRY)
        try:
            sdk = await asyncio.wait_for(_get_metrics(self.sdk_address), SDK_SCRAPE_TIMEOUT_SECONDS)
        except (OSError, TimeoutError, ValueError) as exc:
            logger.warning("the Temporal SDK's metrics were left out of a scrape: %s", exc)
            return ours
        return ours + sdk

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
            method, _, rest = head.partition(b" ")
            path = rest.partition(b" ")[0].partition(b"?")[0]
            if method == b"GET" and path == b"/metrics":
                writer.write(_response(b"200 OK", CONTENT_TYPE_PLAIN_0_0_4, await self.scrape()))
            else:
                writer.write(_response(b"404 Not Found", "text/plain; charset=utf-8", b"not found\n"))
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass  # a scraper that hangs up or sends garbage gets nothing; the next scrape is answered
        finally:
            writer.close()


async def _get_metrics(address: str) -> bytes:
    """The body of `GET /metrics` at `address` (host:port), over loopback.

    A plain HTTP/1.0 exchange rather than an HTTP client: httpx logs every request at INFO, a line per
    scrape in the worker's log. HTTP/1.0 means no chunked body and the server closes when it is done.
    """
    host, _, port = address.rpartition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(f"GET /metrics HTTP/1.0\r\nHost: {address}\r\n\r\n".encode("ascii"))
        await writer.drain()
        answer = await reader.read()
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0]
    if status.split(b" ")[1:2] != [b"200"]:
        msg = f"the SDK's exporter answered {status.decode('latin-1')!r}"
        raise ValueError(msg)
    return body


def _response(status: bytes, content_type: str, body: bytes) -> bytes:
    head = (
        b"HTTP/1.1 " + status + b"\r\nContent-Type: " + content_type.encode("ascii") + b"\r\n"
        b"Content-Length: " + str(len(body)).encode("ascii") + b"\r\nConnection: close\r\n\r\n"
    )
    return head + body


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def metrics_runtime(sdk_address: str, log_format: str) -> Runtime:
    """A Temporal runtime exporting the SDK's metrics on `sdk_address`; with JSON logs, the SDK core's
    own log lines are forwarded to Python's logging (`temporalio.core`), so they are JSON lines too."""
    logging_config = LoggingConfig.default
    if log_format == "json":
        logging_config = LoggingConfig(
            filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
            forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
        )
    telemetry = TelemetryConfig(metrics=PrometheusConfig(bind_address=sdk_address), logging=logging_config)
    return Runtime(telemetry=telemetry)


async def serve_worker_metrics(
    settings: WorkerSettings,
    host: str = "0.0.0.0",  # noqa: S104 -- Prometheus scrapes the pod's address
) -> WorkerMetricsServer | None:
    """Serve `/metrics` on `WORKER_METRICS_PORT` (None when it is unset); connect the worker's client with
    the server's `runtime` so the SDK's metrics are in it."""
    if settings.worker_metrics_port is None:
        return None
    sdk_address = f"127.0.0.1:{_free_loopback_port()}"
    metrics = WorkerMetricsServer(metrics_runtime(sdk_address, settings.log_format), sdk_address)
    await metrics.start(host, settings.worker_metrics_port)
    return metrics
