"""Bad file inputs end typed at their pipe, never in a stuck run (issue 6, "Bad input"): the API and a
worker on Temporal, Document and Image inputs given as http URLs served on loopback by the file server
of `test_url_fetch.py`, and a provider that hangs on the fake OpenAI-compatible server.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fpdf import FPDF
from temporalio.api.enums.v1 import EventType

from api.auth import SINGLE_TENANT
from shared.runs.names import run_workflow_id
from tests.helpers.api_server import assert_problem
from tests.helpers.model_servers.model_server import Fault, ModelServer
from tests.helpers.model_servers.serving import serving
from tests.helpers.run_stack import RunStack, run_stack
from tests.integration.test_url_fetch import MIB, PNG, FileServer, head
from worker.dev_server import free_port
from worker.temporal_connection import connect

KEY = "sk-test-file-input-runs"
CHAT = "/v1/chat/completions"
TEXTS = ["Croissants are baked at dawn", "The oven cools by noon"]
TEXT_FILE = b"Opening hours: 7am to 7pm, every day but Monday.\n"
DECK = """
[models.test-llm]
type = "llm"
provider = "openai"
model = "test-model"

[models.pypdf-text]
type = "extract"
provider = "local"
model = "pypdf"

[aliases.llm]
default-general = "test-llm"

[aliases.extract]
default-extract-document = "pypdf-text"
"""
BUNDLE = """domain = "file_inputs"

[pipe.read_doc]
type = "PipeExtract"
description = "Reads a document's text layer"
inputs = { doc = "Document" }
output = "Page[]"
model = "pypdf-text"

[pipe.describe]
type = "PipeLLM"
description = "Describes a photo"
inputs = { photo = "Image" }
output = "Text"
prompt = "Describe this photo: $photo"
"""


def printed(texts: list[str]) -> bytes:
    """A PDF printed with fpdf2, one page per text."""
    pdf = FPDF()
    pdf.set_font("helvetica", size=14)
    for text in texts:
        pdf.add_page()
        pdf.cell(text=text)
    return bytes(pdf.output())


@dataclass
class Files(FileServer):
    """The file server of `test_url_fetch.py`, with fixed files of this module's own served first."""

    fixed: dict[str, tuple[bytes, str]] = field(default_factory=dict[str, tuple[bytes, str]])

    async def answer(self, path: str, writer: asyncio.StreamWriter) -> None:
        if path not in self.fixed:
            await super().answer(path, writer)
            return
        body, kind = self.fixed[path]
        writer.write(head(200, {"Content-Type": kind, "Content-Length": str(len(body))}) + body)
        await writer.drain()

    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]


@asynccontextmanager
async def file_server() -> AsyncGenerator[Files]:
    server = Files(
        fixed={
            "/doc.pdf": (TEXT_FILE, "application/pdf"),  # a text file under a PDF's name and type
            "/menu.pdf": (printed(TEXTS), "application/pdf"),
            "/photo.png": (PNG, "image/png"),
        }
    )
    tcp = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.port = tcp.sockets[0].getsockname()[1]
    async with tcp:
        yield server


@asynccontextmanager
async def file_stack(
    temporal_address: str,
    tmp_path: Path,
    model: ModelServer,
    *,
    api_private_urls: bool = True,
    worker: dict[str, Any] | None = None,
) -> AsyncGenerator[RunStack]:
    deck = tmp_path / "deck.toml"
    deck.write_text(DECK, encoding="utf-8")
    settings: dict[str, Any] = {
        "model_deck": deck,
        "openai_base_url": model.base_url,
        "openai_api_key": KEY,
        "allow_private_input_urls": True,  # the files are served on loopback
        "max_input_file_mib": 1,
        "pipe_activity_max_attempts": 2,
        "pipe_activity_initial_interval_seconds": 0.1,
        **(worker or {}),
    }
    api = {"model_deck": deck, "allow_private_input_urls": api_private_urls}
    async with (
        serving(model),
        run_stack(temporal_address, tmp_path / "data", api_overrides=api, worker_overrides=settings) as stack,
    ):
        yield stack


def execute(pipe: str, run_id: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"mthds_contents": [BUNDLE], "pipe_code": pipe, "inputs": inputs, "pipeline_run_id": run_id}


async def failed_at_pipe(stack: RunStack, run_id: str, pipe: str, inputs: dict[str, Any], code: str) -> Any:
    """Run `pipe` to its end; check the answer is `code` located at the pipe and the run is FAILED."""
    response = await stack.client.post("/v1/execute", json=execute(pipe, run_id, inputs))
    problem = assert_problem(response, 422, code)
    assert problem["location"]["pipe"] == pipe, problem
    assert problem["pipeline_run_id"] == run_id
    record = await stack.client.get(f"/v1/runs/{run_id}")
    assert record.status_code == 200, record.text
    assert record.json()["state"] == "FAILED", record.json()
    return problem


async def last_attempt(temporal_address: str, run_id: str) -> int:
    """The attempt number of the run's last operator activity, from its Temporal history."""
    history = (
        await (await connect(temporal_address))
        .get_workflow_handle(run_workflow_id(SINGLE_TENANT, run_id))
        .fetch_history()
    )
    started = [
        event.activity_task_started_event_attributes.attempt
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert started, "no activity ran"
    return started[-1]


async def test_an_unreachable_document_url_fails_after_every_attempt(
    temporal_address: str, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{free_port()}/doc.pdf"
    async with file_stack(temporal_address, tmp_path, ModelServer("openai", api_key=KEY)) as stack:
        problem = await failed_at_pipe(
            stack, "run-file-unreachable", "read_doc", {"doc": {"url": url}}, "input.url_unreachable"
        )
    assert problem["params"] == {"input": "doc", "url": url, "reason": "connect_error", "pipe": "read_doc"}
    assert await last_attempt(temporal_address, "run-file-unreachable") == 2  # retryable: both attempts


async def test_an_endless_document_is_too_large_and_not_retried(
    temporal_address: str, tmp_path: Path
) -> None:
    async with (
        file_server() as files,
        file_stack(temporal_address, tmp_path, ModelServer("openai", api_key=KEY)) as stack,
    ):
        doc = {"url": files.url("/endless")}  # up to 2 GB, no Content-Length
        problem = await failed_at_pipe(stack, "run-file-huge", "read_doc", {"doc": doc}, "input.too_large")
    assert problem["params"] == {"input": "doc", "limit": MIB, "pipe": "read_doc"}
    assert files.paths() == ["/endless"]  # one request: a file over the limit is not fetched again
    assert files.streamed["/endless"] < 64 * MIB  # the worker hung up near the limit
    assert await last_attempt(temporal_address, "run-file-huge") == 1


async def test_a_text_file_named_pdf_is_unreadable(temporal_address: str, tmp_path: Path) -> None:
    async with (
        file_server() as files,
        file_stack(temporal_address, tmp_path, ModelServer("openai", api_key=KEY)) as stack,
    ):
        doc = {"url": files.url("/doc.pdf")}
        problem = await failed_at_pipe(
            stack, "run-file-text", "read_doc", {"doc": doc}, "input.file_unreadable"
        )
    assert problem["params"]["input"] == "doc"
    assert files.paths() == ["/doc.pdf"]


async def test_a_pdf_served_over_http_is_read(temporal_address: str, tmp_path: Path) -> None:
    async with (
        file_server() as files,
        file_stack(temporal_address, tmp_path, ModelServer("openai", api_key=KEY)) as stack,
    ):
        doc = {"url": files.url("/menu.pdf"), "filename": "menu.pdf"}
        response = await stack.client.post(
            "/v1/execute", json=execute("read_doc", "run-file-pdf", {"doc": doc})
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["state"] == "COMPLETED", body
    pages = body["pipe_output"]["working_memory"]["root"][body["main_stuff_name"]]["content"]["items"]
    assert [page["text_and_images"]["text"]["text"].strip() for page in pages] == TEXTS
    assert files.paths() == ["/menu.pdf"]


async def test_an_image_url_reaches_the_model_as_its_bytes(temporal_address: str, tmp_path: Path) -> None:
    model = ModelServer("openai", api_key=KEY, answer="A green pixel.")
    async with file_server() as files, file_stack(temporal_address, tmp_path, model) as stack:
        photo = {"url": files.url("/photo.png")}
        response = await stack.client.post(
            "/v1/execute", json=execute("describe", "run-file-photo", {"photo": photo})
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["pipe_output"]["working_memory"]["root"][body["main_stuff_name"]]["content"] == {
        "text": "A green pixel."
    }
    assert files.paths() == ["/photo.png"]  # the worker fetched it; the provider got no URL of ours
    [sent] = model.requests(CHAT)
    parts = sent.body["messages"][-1]["content"]
    assert [part["type"] for part in parts] == ["text", "image_url"]
    url: str = parts[1]["image_url"]["url"]
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix)
    assert base64.b64decode(url.removeprefix(prefix)) == PNG


async def test_a_loopback_image_url_is_refused_at_request_time(temporal_address: str, tmp_path: Path) -> None:
    model = ModelServer("openai", api_key=KEY)
    async with (
        file_server() as files,
        file_stack(temporal_address, tmp_path, model, api_private_urls=False) as stack,
    ):
        photo = {"url": files.url("/photo.png")}
        response = await stack.client.post(
            "/v1/execute", json=execute("describe", "run-file-refused", {"photo": photo})
        )
        problem = assert_problem(response, 422, "security.input_url_refused")
        assert problem["params"]["input"] == "photo"
        assert_problem(await stack.client.get("/v1/runs/run-file-refused"), 404, "run.not_found")
    assert files.requests == []
    assert model.requests() == []


async def test_a_hanging_provider_ends_the_run_typed(temporal_address: str, tmp_path: Path) -> None:
    """The activity's start-to-close bounds a call that hangs (the deck's `timeout_seconds`, 120 s by
    default for chat, is longer here): its timeout ends the run FAILED with `provider.timeout`. A short
    heartbeat lets the lingering call be cancelled soon after, so the worker stops promptly.
    """
    model = ModelServer("openai", api_key=KEY)
    model.script(Fault(delay=30, path=CHAT))
    worker = {
        "pipe_activity_timeout_seconds": 2,
        "pipe_activity_heartbeat_seconds": 1,
        "pipe_activity_max_attempts": 1,
    }
    async with (
        file_server() as files,
        file_stack(temporal_address, tmp_path, model, worker=worker) as stack,
    ):
        photo = {"url": files.url("/photo.png")}
        response = await stack.client.post(
            "/v1/execute", json=execute("describe", "run-file-hang", {"photo": photo})
        )
        problem = assert_problem(response, 504, "provider.timeout")
        assert problem["location"]["pipe"] == "describe"
        assert "did not finish in time (START_TO_CLOSE)" in problem["detail"]
        record = await stack.client.get("/v1/runs/run-file-hang")
        assert record.json()["state"] == "FAILED", record.json()
    assert len(model.requests(CHAT)) == 1
