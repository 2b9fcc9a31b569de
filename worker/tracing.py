"""Following a run through a worker: OpenTelemetry spans (off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set)
and the fields the log lines of an activity carry (run id, tenant, pipe, activity).

With tracing on, Temporal's `TracingInterceptor` on the worker's client continues the trace the API
started into the run's workflow and activities (the trace context rides in Temporal headers), and
`traced_call` puts a span around each provider call, under the activity's span. The process has one
tracer provider, held here rather than set as OpenTelemetry's global one, so a test can install its own
and remove it. The OpenTelemetry SDK and exporter are imported only when tracing starts: reading the
settings (the command line does) must not pay for them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar, cast

from opentelemetry import trace
from temporalio import activity, client
from temporalio import worker as temporal_worker

from shared.observability.log_fields import log_fields, run_fields
from shared.runs.workflow_io import OperatorTask

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

    from worker.settings import WorkerSettings

DEFAULT_SERVICE_NAME = "methodflow-worker"
TRACER_NAME = "methodflow.worker"

# A provider method: its own type is kept, so a decorated class still meets the provider protocol.
Method = TypeVar("Method", bound=Callable[..., Coroutine[Any, Any, Any]])

_providers: list[TracerProvider] = []  # the process's provider, once installed


def start_tracing(settings: WorkerSettings) -> TracerProvider | None:
    """Install a provider exporting to `OTEL_EXPORTER_OTLP_ENDPOINT` in batches (None when unset).
    Call it before connecting the worker's client, whose interceptors read it."""
    if not settings.otel_exporter_otlp_endpoint:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({SERVICE_NAME: settings.otel_service_name or DEFAULT_SERVICE_NAME})
    provider = TracerProvider(resource=resource)
    endpoint = settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    install_tracer_provider(provider)
    return provider


def install_tracer_provider(provider: TracerProvider) -> None:
    """Make `provider` the worker's (tests install one with an in-memory exporter)."""
    _providers[:] = [provider]


def stop_tracing() -> None:
    """Send the spans still batched and forget the provider (at the worker's end)."""
    for provider in _providers:
        provider.shutdown()
    _providers.clear()


def tracing_interceptors() -> list[client.Interceptor]:
    """Temporal's tracing interceptor on the installed provider; none when tracing is off."""
    if not _providers:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor(_providers[0].get_tracer(TRACER_NAME))]


def traced_call(operation: str, system: str) -> Callable[[Method], Method]:
    """A span around each call of a provider method (`operation` such as `chat`, on `system` such as
    `openai`) named as OpenTelemetry's GenAI conventions name them; the request is the last argument
    (its `model` names the span), the answer's `usage` adds the tokens."""

    def decorate(call: Method) -> Method:
        @functools.wraps(call)
        async def traced(*args: Any, **kwargs: Any) -> Any:
            if not _providers:
                return await call(*args, **kwargs)
            model = getattr(args[-1], "model", None) if args else None
            attributes: dict[str, str] = {"gen_ai.operation.name": operation, "gen_ai.system": system}
            if isinstance(model, str):
                attributes["gen_ai.request.model"] = model
            tracer = _providers[0].get_tracer(TRACER_NAME)
            name = f"{operation} {model}" if isinstance(model, str) else operation
            with tracer.start_as_current_span(
                name, kind=trace.SpanKind.CLIENT, attributes=attributes
            ) as span:
                answer = await call(*args, **kwargs)
                _add_usage(span, getattr(answer, "usage", None))
                return answer

        return cast("Method", traced)

    return decorate


def _add_usage(span: trace.Span, usage: Any) -> None:
    for name in ("input_tokens", "output_tokens"):
        value = getattr(usage, name, None)
        if isinstance(value, int):
            span.set_attribute(f"gen_ai.usage.{name}", value)


class ActivityLogFieldsInterceptor(client.Interceptor, temporal_worker.Interceptor):
    """Gives an activity's log lines its run id, tenant, activity type and, for an operator, its pipe.
    On the client, so every worker built on it has it (`temporal_connection.connect`)."""

    def intercept_activity(
        self, next: temporal_worker.ActivityInboundInterceptor
    ) -> temporal_worker.ActivityInboundInterceptor:
        return _ActivityLogFields(next)


class _ActivityLogFields(temporal_worker.ActivityInboundInterceptor):
    async def execute_activity(self, input: temporal_worker.ExecuteActivityInput) -> Any:
        info = activity.info()
        task = input.args[0] if input.args else None
        pipe = task.pipe_ref.rpartition(".")[2] if isinstance(task, OperatorTask) else None
        fields = run_fields(info.workflow_id) if info.workflow_id else {}
        with log_fields(**fields, pipe=pipe, activity=info.activity_type):
            return await super().execute_activity(input)
