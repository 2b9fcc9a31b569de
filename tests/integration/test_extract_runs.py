"""PipeExtract runs for real: the API and a worker on Temporal, a PDF printed here with fpdf2 and a PNG
drawn with Pillow sent as `data:` URLs, pages read with pypdf/pypdfium2, and the vision path through the
OpenAI SDK talking to the fake OpenAI-compatible server on loopback.
"""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fpdf import FPDF
from PIL import Image

from shared.storage.blob_store import LocalBlobStore
from tests.helpers.api_server import assert_problem
from tests.helpers.model_servers.model_server import ModelServer
from tests.helpers.model_servers.serving import serving
from tests.helpers.run_stack import RunStack, run_stack

KEY = "sk-test-extract-runs"
CHAT = "/v1/chat/completions"
ANSWER = "# Boulangerie Kerlann\n\n- Croissant: 1.20 EUR"
RED = (200, 10, 10)
TEXTS = ["Page one lists the croissants", "Page two shows the oven", "Page three gives the prices"]
BUNDLE = """domain = "extract_runs"

[pipe.read_pdf]
type = "PipeExtract"
description = "Reads a PDF's text layer"
inputs = { doc = "Document" }
output = "Page[]"
model = { model = "@default-extract-document", max_nb_images = 5, image_min_size = 8 }
page_views = true

[pipe.ocr_photo]
type = "PipeExtract"
description = "Reads a photo with a vision model"
inputs = { photo = "Image" }
output = "Page[]"

[pipe.photo_as_page]
type = "PipeExtract"
description = "Keeps a photo as a page, without a model"
inputs = { photo = "Image" }
output = "Page[]"
model = "@default-no-inference"

[pipe.ocr_pdf]
type = "PipeExtract"
description = "Reads a scanned PDF with a vision model"
inputs = { doc = "Document" }
output = "Page[]"
model = "vision-ocr"
page_views = true
"""


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), RED).save(out, format="PNG")
    return out.getvalue()


def printed(texts: list[str]) -> bytes:
    """An A4 PDF, one page per text, with a 40x30 px PNG drawn on page 2."""
    pdf = FPDF()
    pdf.set_font("helvetica", size=14)
    for number, text in enumerate(texts, 1):
        pdf.add_page()
        pdf.cell(text=text)
        if number == 2:
            pdf.image(io.BytesIO(png(40, 30)), x=20, y=40, w=40)
    return bytes(pdf.output())


def data_url(data: bytes, mime_type: str) -> str:
    return f"data:{mime_type};base64,{base64.b64encode(data).decode('ascii')}"


def execute(pipe: str, run_id: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"mthds_contents": [BUNDLE], "pipe_code": pipe, "inputs": inputs, "pipeline_run_id": run_id}


def completed(response: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The pages of a finished run and its usage records."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["state"] == "COMPLETED", body
    root = body["pipe_output"]["working_memory"]["root"]
    return root[body["main_stuff_name"]]["content"]["items"], body["pipe_output"]["tokens_usages"]


def stored_png(store: LocalBlobStore, image: dict[str, Any]) -> Image.Image:
    """The stored PNG an Image content points at, checked against the size the content states."""
    assert image["url"].startswith("pipelex-storage://")
    assert image["mime_type"] == "image/png"
    picture = Image.open(io.BytesIO(store.get(image["url"])))
    assert picture.format == "PNG"
    assert picture.size == (image["width"], image["height"])
    return picture


@asynccontextmanager
async def extract_stack(
    temporal_address: str, tmp_path: Path, server: ModelServer
) -> AsyncGenerator[RunStack]:
    worker: dict[str, Any] = {
        "openai_base_url": server.base_url,
        "openai_api_key": KEY,
        "pipe_activity_max_attempts": 1,
    }
    async with (
        serving(server),
        run_stack(temporal_address, tmp_path / "data", worker_overrides=worker) as stack,
    ):
        yield stack


async def test_a_pdf_text_layer_images_and_page_views(temporal_address: str, tmp_path: Path) -> None:
    server = ModelServer("openai", api_key=KEY, answer=ANSWER)
    store = LocalBlobStore(tmp_path / "data" / "storage")
    async with extract_stack(temporal_address, tmp_path, server) as stack:
        pdf = {"url": data_url(printed(TEXTS), "application/pdf"), "filename": "bakery.pdf"}
        response = await stack.client.post(
            "/v1/execute", json=execute("read_pdf", "run-extract-pdf", {"doc": pdf})
        )
        pages, usages = completed(response)

        assert len(pages) == 3
        for page, text in zip(pages, TEXTS, strict=True):
            assert text in page["text_and_images"]["text"]["text"]
            assert page["text_and_images"]["raw_html"] is None
            view = stored_png(store, page["page_view"])
            assert abs(view.width - 595) <= 1  # A4 at the default 72 dpi
            assert view.convert("RGB").getpixel((5, 5)) == (255, 255, 255)
        assert [len(page["text_and_images"]["images"]) for page in pages] == [0, 1, 0]
        [image] = pages[1]["text_and_images"]["images"]
        picture = stored_png(store, image)
        assert picture.size == (40, 30)
        assert picture.convert("RGB").getpixel((20, 15)) == RED
        assert image["public_url"].startswith("file://")
        # The page view shows the drawn picture where it was printed (20-60 mm across, 40-70 mm down).
        view = stored_png(store, pages[1]["page_view"]).convert("RGB")
        assert view.getpixel((int(40 / 25.4 * 72), int(55 / 25.4 * 72))) == RED
        assert usages == []  # the text layer needs no model

        # A local model reads no text from an image: the page is the image itself.
        photo_bytes = png(64, 48)
        photo = {"url": data_url(photo_bytes, "image/png"), "filename": "shop.png"}
        response = await stack.client.post(
            "/v1/execute", json=execute("photo_as_page", "run-extract-local-photo", {"photo": photo})
        )
        [page], usages = completed(response)
        assert page["text_and_images"] == {"text": None, "images": [], "raw_html": None}
        assert store.get(page["page_view"]["url"]) == photo_bytes
        assert stored_png(store, page["page_view"]).size == (64, 48)
        assert usages == []
    assert server.requests() == []


async def test_vision_reads_an_image_and_scanned_pages(temporal_address: str, tmp_path: Path) -> None:
    server = ModelServer("openai", api_key=KEY, answer=ANSWER)
    store = LocalBlobStore(tmp_path / "data" / "storage")
    photo_bytes = png(64, 48)
    async with extract_stack(temporal_address, tmp_path, server) as stack:
        photo = {"url": data_url(photo_bytes, "image/png")}
        response = await stack.client.post(
            "/v1/execute", json=execute("ocr_photo", "run-extract-photo", {"photo": photo})
        )
        [page], usages = completed(response)
        assert page == {
            "text_and_images": {"text": {"text": ANSWER}, "images": [], "raw_html": None},
            "page_view": None,
        }
        [sent] = server.requests(CHAT)
        assert sent.body["model"] == "gpt-4o"  # the builtin deck's `@default-extract-image`
        parts = sent.body["messages"][-1]["content"]
        assert [part["type"] for part in parts] == ["text", "image_url"]
        assert parts[1]["image_url"]["url"] == data_url(photo_bytes, "image/png")
        [usage] = usages
        assert (usage["model_type"], usage["job_category"], usage["unit_job_id"]) == (
            "extract",
            "extract",
            "page-1",
        )
        assert usage["inference_model_name"] == "vision-ocr"
        assert usage["nb_tokens_by_category"]["input"] > 0

        pdf = {"url": data_url(printed(TEXTS[:2]), "application/pdf")}
        response = await stack.client.post(
            "/v1/execute", json=execute("ocr_pdf", "run-extract-scan", {"doc": pdf})
        )
        pages, usages = completed(response)
        assert [page["text_and_images"]["text"] for page in pages] == [{"text": ANSWER}] * 2
        assert [len(page["text_and_images"]["images"]) for page in pages] == [0, 1]
        for page in pages:
            assert stored_png(store, page["page_view"]).size == (
                page["page_view"]["width"],
                page["page_view"]["height"],
            )
        scans = server.requests(CHAT)[1:]
        assert len(scans) == 2
        for scan in scans:
            url = scan.body["messages"][-1]["content"][1]["image_url"]["url"]
            assert url.startswith("data:image/png;base64,")
            rendered = Image.open(io.BytesIO(base64.b64decode(url.partition(",")[2])))
            assert abs(rendered.width - 1240) <= 1  # A4 at 150 dpi, sharp enough to read
        assert sorted(usage["unit_job_id"] for usage in usages) == ["page-1", "page-2"]


async def test_unreadable_documents_fail_typed_at_the_pipe(temporal_address: str, tmp_path: Path) -> None:
    server = ModelServer("openai", api_key=KEY)
    text_file = b"Opening hours: 7am to 7pm, every day but Monday.\n"
    bad = {
        "text named .pdf": (
            {"url": data_url(text_file, "application/pdf"), "filename": "hours.pdf"},
            "%PDF-",
        ),
        "corrupt": ({"url": data_url(printed(TEXTS)[:300], "application/pdf")}, "cannot be read"),
        "png named .pdf": ({"url": data_url(png(8, 8), "application/pdf"), "filename": "x.pdf"}, "image/png"),
    }
    async with extract_stack(temporal_address, tmp_path, server) as stack:
        for index, (case, (document, says)) in enumerate(bad.items()):
            response = await stack.client.post(
                "/v1/execute", json=execute("read_pdf", f"run-extract-bad-{index}", {"doc": document})
            )
            problem = assert_problem(response, 422, "input.file_unreadable")
            assert problem["location"]["pipe"] == "read_pdf", case
            assert problem["params"]["input"] == "doc", case
            assert says in problem["detail"], case
    assert server.requests() == []
