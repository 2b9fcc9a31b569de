"""Prometheus metrics of the API at `GET /metrics` (http-api.md §3): requests by route template, method and
status, their latency by route, 429 answers, requests in flight, and the run metrics (`run_metrics.py`).

`/metrics` is public, as `/health` is: Prometheus scrapes from inside the cluster without credentials, and
deploy/'s NetworkPolicy admits only the ingress and the scraper to the API's port. Its series hold route
templates, methods, states and status codes, never a path, run id, tenant or other caller text, so it
shows the service's load and not its callers' business (and a caller cannot grow its cardinality).
`METRICS_ENABLED=false` takes the route away (404) and measures nothing. Each app has its own registry,
so apps built side by side in one process (tests) never share a series.
"""

from __future__ import annotations

import time
from contextvars import ContextVar

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.run_metrics import RunMetrics
from api.temporal_gateway import TemporalGateway

UNMATCHED = "unmatched"  # the route label of a request no route matched (404)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Up to `/v1/execute`'s default wait (1140 s): its answers come when the run ends.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1200)

_current_scope: ContextVar[Scope | None] = ContextVar("methodflow_metrics_scope", default=None)


def route_template(scope: Scope | None) -> str:
    """The template of the route that served `scope` (`/v1/runs/{run_id}`), never the raw path."""
    path = getattr(scope.get("route") if scope is not None else None, "path", None)
    return path if isinstance(path, str) else UNMATCHED


def current_route() -> str:
    """The route template of the request this task serves (`unmatched` outside one)."""
    return route_template(_current_scope.get())


class ApiMetrics:
    """The API's metrics, in a registry of their own, for the runs of `task_queue`."""

    def __init__(self, task_queue: str) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.requests = Counter(
            "methodflow_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "methodflow_http_request_duration_seconds",
            "Time to answer a request, until its last byte, by route template.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.too_many = Counter(
            "methodflow_http_too_many_requests",
            "429 answers (a tenant over its run limit), by route template.",
            ["route"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "methodflow_http_requests_in_flight", "Requests being served now.", registry=self.registry
        )
        self.runs = RunMetrics(self.registry, task_queue, current_route)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def install_metrics_route(app: FastAPI, metrics: ApiMetrics, gateway: TemporalGateway) -> None:
    """`GET /metrics`, the Prometheus text format, left out of the OpenAPI document like `/docs`."""

    async def metrics_page() -> Response:
        await metrics.runs.refresh(gateway)
        return Response(metrics.render(), media_type=CONTENT_TYPE_PLAIN_0_0_4)

    app.add_api_route("/metrics", metrics_page, methods=["GET"], include_in_schema=False)


class RequestMetricsMiddleware:
    """Counts and times every HTTP request by the route that served it. Pure ASGI.

    Sits just inside `RequestIdMiddleware`, so it sees every answer as sent, CORS preflights and the
    catch-all's 500s included.
    """

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        answered = [500]  # the status sent; 500 when the app raises before answering

        async def send_observed(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered[0] = message["status"]
            await send(message)

        metrics = self.metrics
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        token = _current_scope.set(scope)
        metrics.in_flight.inc()
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_observed)
        finally:
            metrics.in_flight.dec()
            _current_scope.reset(token)
            # The router sets `scope["route"]` on the way in, so the template is known by now.
            route, status = route_template(scope), answered[0]
            metrics.latency.labels(route).observe(time.perf_counter() - started)
            metrics.requests.labels(route, method, str(status)).inc()
            if status == 429:
                metrics.too_many.labels(route).inc()
