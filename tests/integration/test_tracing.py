"""One trace from an API request through the run's workflow and activity to the provider call: the API
and a worker in-process on the Temporal dev server, both exporting with the real OTLP/HTTP exporter
(configured by `OTEL_EXPORTER_OTLP_ENDPOINT`'s setting) to a collector on loopback that decodes what
they send. The caller's `traceparent` starts the trace.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.sdk.trace import TracerProvider
from pydantic import SecretStr
from starlette.types import Receive, Scope, Send

from api.main import create_app
from api.settings import ApiSettings
from tests.helpers.model_servers.model_server import ModelServer
from tests.helpers.model_servers.serving import serving as serving_model
from worker.dev_server import free_port
from worker.runner import build_worker
from worker.settings import WorkerSettings
from worker.temporal_connection import connect
from worker.tracing import start_tracing, stop_tracing

KEY = "sk-test-tracing"
DECK = """
[models.traced-llm]
type = "llm"
provider = "openai"
model = "traced-model"
"""
BUNDLE = """domain = "traced"
main_pipe = "greet"

[pipe.greet]
type = "PipeLLM"
description = "Greets"
inputs = { name = "Text" }
output = "Text"
model = "traced-llm"
prompt = "Say hello to {{ name }}."
"""
TRACE_ID = uuid.uuid4().hex
CALLER_SPAN_ID = uuid.uuid4().hex[:16]


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]


def _value(value: AnyValue) -> Any:
    return getattr(value, value.WhichOneof("value") or "string_value")


class SpanCollector:
    """An OTLP/HTTP traces receiver (`POST /v1/traces`, protobuf) keeping every span it is sent."""

    def __init__(self) -> None:
        self.port = free_port()
        self.spans: list[ReceivedSpan] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        status = 404
        if scope["method"] == "POST" and scope["path"] == "/v1/traces":
            self._keep(ExportTraceServiceRequest.FromString(body))
            status = 200
        headers = [(b"content-type", b"application/x-protobuf")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": ExportTraceServiceResponse().SerializeToString()})

    def _keep(self, request: ExportTraceServiceRequest) -> None:
        for resource_spans in request.resource_spans:
            resource = {item.key: _value(item.value) for item in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append(
                        ReceivedSpan(
                            service=str(resource.get("service.name")),
                            name=span.name,
                            kind=Span.SpanKind.Name(span.kind),
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            attributes={item.key: _value(item.value) for item in span.attributes},
                        )
                    )

    def one(self, name: str) -> ReceivedSpan:
        found = [span for span in self.spans if span.trace_id == TRACE_ID and span.name == name]
        assert len(found) == 1, f"{name}: {found}; the trace holds {self.names()}"
        return found[0]

    def names(self) -> list[str]:
        return [f"{span.service}:{span.name}" for span in self.spans if span.trace_id == TRACE_ID]


@asynccontextmanager
async def served(app: Any, port: int) -> AsyncGenerator[None]:
    """`app` on uvicorn on loopback (its lifespan on: the API flushes its spans when it stops)."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 -- uvicorn offers a flag, not an event
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        await task


async def test_one_trace_spans_the_request_the_workflow_the_activity_and_the_model_call(
    temporal_address: str, tmp_path: Path
) -> None:
    collector = SpanCollector()
    deck = tmp_path / "deck.toml"
    deck.write_text(DECK, encoding="utf-8")
    model = ModelServer("openai", api_key=KEY, answer="Hello, Ada!")
    task_queue = f"test-{uuid.uuid4()}"
    worker_settings = WorkerSettings(
        data_dir=tmp_path,
        model_deck=deck,
        openai_base_url=model.base_url,
        openai_api_key=SecretStr(KEY),
        otel_exporter_otlp_endpoint=collector.endpoint,
    )
    api_settings = ApiSettings(
        temporal_address=temporal_address,
        temporal_task_queue=task_queue,
        data_dir=tmp_path,
        model_deck=deck,
        otel_exporter_otlp_endpoint=collector.endpoint,
    )
    app = create_app(api_settings)
    api_provider: TracerProvider | None = app.state.tracer_provider
    assert api_provider is not None
    api_port = free_port()
    async with served(collector, collector.port), serving_model(model):
        worker_provider = start_tracing(worker_settings)
        assert worker_provider is not None
        try:
            client = await connect(temporal_address)
            async with (
                build_worker(client, worker_settings, task_queue=task_queue),
                served(app, api_port),
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", trust_env=False) as api,
            ):
                traceparent = f"00-{TRACE_ID}-{CALLER_SPAN_ID}-01"
                body = {"mthds_contents": [BUNDLE], "inputs": {"name": "Ada"}, "pipeline_run_id": "traced-1"}
                started = await api.post("/v1/start", json=body, headers={"traceparent": traceparent})
                assert started.status_code == 202, started.text
                state = "STARTED"
                for _ in range(600):
                    state = (await api.get("/v1/runs/traced-1/status")).json()["state"]
                    if state not in ("STARTED", "RUNNING"):
                        break
                    await asyncio.sleep(0.05)
                assert state == "COMPLETED"
                results = (await api.get("/v1/runs/traced-1/results")).json()
            # Both providers export in batches: their last spans go out when they stop.
            await asyncio.to_thread(worker_provider.force_flush)
        finally:
            await asyncio.to_thread(stop_tracing)

    # The request's span continues the caller's trace; the API's client span starts the workflow under it.
    request = collector.one("POST /v1/start")
    assert (request.service, request.kind) == ("methodflow-api", "SPAN_KIND_SERVER")
    assert request.parent_span_id == CALLER_SPAN_ID
    assert request.attributes["http.route"] == "/v1/start"
    assert request.attributes["http.response.status_code"] == 202
    start = collector.one("StartWorkflow:RunPipeline")
    assert (start.service, start.parent_span_id) == ("methodflow-api", request.span_id)
    # The worker continues it: the workflow, the operator activity, then the provider call inside it.
    run = collector.one("RunWorkflow:RunPipeline")
    assert (run.service, run.parent_span_id) == ("methodflow-worker", start.span_id)
    scheduled = collector.one("StartActivity:run_operator")
    assert scheduled.service == "methodflow-worker"
    operator = collector.one("RunActivity:run_operator")
    assert (operator.service, operator.parent_span_id) == ("methodflow-worker", scheduled.span_id)
    call = collector.one("chat traced-model")
    assert (call.service, call.kind) == ("methodflow-worker", "SPAN_KIND_CLIENT")
    assert call.parent_span_id == operator.span_id
    assert call.attributes["gen_ai.system"] == "openai"
    assert call.attributes["gen_ai.request.model"] == "traced-model"
    (usage,) = results["tokens_usages"]
    assert call.attributes["gen_ai.usage.input_tokens"] == usage["nb_tokens_by_category"]["input"]
    assert call.attributes["gen_ai.usage.output_tokens"] == usage["nb_tokens_by_category"]["output"]
    # Nothing of this run's work went to another trace.
    assert {span.trace_id for span in collector.spans if span.name.endswith(":run_operator")} == {TRACE_ID}
