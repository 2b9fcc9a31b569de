"""Following a request through the API: its OpenTelemetry spans (off unless `OTEL_EXPORTER_OTLP_ENDPOINT`
is set) and the fields its log lines carry (request id, then the run id and tenant its Temporal calls name).

A span per request comes from FastAPI's own OpenTelemetry support (`FastAPI(telemetry=...)`: named by
route template, W3C `traceparent` read from the request), given this app's provider rather than the
global one, so no instrumentation package is needed and several apps in one process (tests) keep
their own. Temporal's `TracingInterceptor` on the API's client carries the trace into the workflow
and its activities, where the worker's interceptor continues it.
"""

from __future__ import annotations

from typing import Any

from fastapi.telemetry import TelemetryConfig
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from temporalio import client
from temporalio.contrib.opentelemetry import TracingInterceptor

from api.settings import ApiSettings
from shared.observability.log_fields import add_log_fields, run_fields
from shared.runs.workflow_io import RunSpec

DEFAULT_SERVICE_NAME = "methodflow-api"
TRACER_NAME = "methodflow.api"


def traces_endpoint(base: str) -> str:
    """The OTLP/HTTP traces URL of a collector's base URL, as the OpenTelemetry SDKs read
    `OTEL_EXPORTER_OTLP_ENDPOINT` (the signal's path added)."""
    return base.rstrip("/") + "/v1/traces"


def tracer_provider(settings: ApiSettings) -> TracerProvider | None:
    """The API's tracer provider exporting to the OTLP collector in batches; None when tracing is off."""
    if not settings.otel_exporter_otlp_endpoint:
        return None
    resource = Resource.create({SERVICE_NAME: settings.otel_service_name or DEFAULT_SERVICE_NAME})
    provider = TracerProvider(resource=resource)
    # Headers (`OTEL_EXPORTER_OTLP_HEADERS`) and timeouts are read by the exporter from the environment.
    exporter = OTLPSpanExporter(endpoint=traces_endpoint(settings.otel_exporter_otlp_endpoint))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def fastapi_telemetry(provider: TracerProvider | None) -> TelemetryConfig:
    """FastAPI's request spans on `provider`; nothing at all without one (whatever the global providers).

    Its metrics and logs stay off: the service's metrics are Prometheus' (`api/metrics.py`) and its logs
    go through `logging`. Operation spans (dependencies, serialization) stay off too: one span per request,
    with the Temporal calls under it, is what a trace of a run needs.
    """
    if provider is None:
        return {"tracing": False, "metrics": False, "logs": False, "auto_configure": False}
    return {
        "tracer_provider": provider,
        "metrics": False,
        "logs": False,
        "operation_spans": False,
        "auto_configure": False,
    }


def client_interceptors(provider: TracerProvider | None) -> list[client.Interceptor]:
    """The API client's interceptors: the run's log fields, and the trace's propagation when tracing."""
    interceptors: list[client.Interceptor] = []
    if provider is not None:
        interceptors.append(TracingInterceptor(provider.get_tracer(TRACER_NAME)))
    interceptors.append(RunLogFieldsInterceptor())
    return interceptors


class RunLogFieldsInterceptor(client.Interceptor):
    """Adds the run id and tenant of the workflow a request starts or reads to the request's log fields
    (and the pipe code of a run it starts)."""

    def intercept_client(self, next: client.OutboundInterceptor) -> client.OutboundInterceptor:
        return _RunLogFields(next)


class _RunLogFields(client.OutboundInterceptor):
    async def start_workflow(self, input: client.StartWorkflowInput) -> client.WorkflowHandle[Any, Any]:
        spec = input.args[0] if input.args else None
        pipe = spec.pipe_code if isinstance(spec, RunSpec) else None
        add_log_fields(**run_fields(input.id), pipe=pipe)
        return await super().start_workflow(input)

    async def describe_workflow(
        self,
        input: client.DescribeWorkflowInput,
    ) -> client.WorkflowExecutionDescription:
        add_log_fields(**run_fields(input.id))
        return await super().describe_workflow(input)

    async def query_workflow(self, input: client.QueryWorkflowInput) -> Any:
        add_log_fields(**run_fields(input.id))
        return await super().query_workflow(input)

    async def signal_workflow(self, input: client.SignalWorkflowInput) -> None:
        add_log_fields(**run_fields(input.id))
        await super().signal_workflow(input)

    async def start_workflow_update(
        self,
        input: client.StartWorkflowUpdateInput,
    ) -> client.WorkflowUpdateHandle[Any]:
        add_log_fields(**run_fields(input.id))
        return await super().start_workflow_update(input)
