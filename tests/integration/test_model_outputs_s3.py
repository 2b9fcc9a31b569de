"""Files that models and operators make live in S3 when `STORAGE=s3://...` (issue 6, "Blob store"): a
generated image and the page views of an extracted PDF, run through the API and a worker on Temporal,
stored on moto's S3 server over loopback, read back through their presigned URL and with boto3.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncGenerator, Generator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fpdf import FPDF

from shared.storage.blob_store import STORAGE_SCHEME
from tests.conftest import S3_TEST_REGION
from tests.helpers.model_servers.model_server import ModelServer
from tests.helpers.model_servers.serving import serving
from tests.helpers.model_servers.tiny_png import PNG_SIGNATURE, png_size, solid_png
from tests.helpers.run_stack import RunStack, run_stack
from tests.integration.test_blob_stores import s3_client

KEY = "sk-test-model-outputs-s3"
PREFIX = "outputs/eu"
TEXT = "Loaves are proofed overnight"
DECK = """
[models.test-img]
type = "img_gen"
provider = "openai"
model = "test-image-model"

[models.pypdf-text]
type = "extract"
provider = "local"
model = "pypdf"

[aliases.img_gen]
default-general = "test-img"

[aliases.extract]
default-extract-document = "pypdf-text"
"""
BUNDLE = """domain = "s3_outputs"

[pipe.poster]
type = "PipeImgGen"
description = "Draws a poster"
inputs = { topic = "Text" }
output = "Image"
prompt = "A poster about {{ topic }}."
model = "test-img"

[pipe.read_pdf]
type = "PipeExtract"
description = "Reads a PDF with page views"
inputs = { doc = "Document" }
output = "Page[]"
model = "pypdf-text"
page_views = true
"""


@pytest.fixture
def bucket(s3_server: str) -> Generator[str]:
    """A fresh bucket on the moto server, emptied and removed afterwards."""
    client = s3_client(s3_server)
    name = f"outputs-{uuid.uuid4().hex[:20]}"
    client.create_bucket(Bucket=name)
    try:
        yield name
    finally:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
            for item in page.get("Contents", []):
                client.delete_object(Bucket=name, Key=item.get("Key", ""))
        client.delete_bucket(Bucket=name)


@asynccontextmanager
async def s3_stack(
    temporal_address: str, tmp_path: Path, s3_server: str, bucket: str, model: ModelServer
) -> AsyncGenerator[RunStack]:
    deck = tmp_path / "deck.toml"
    deck.write_text(DECK, encoding="utf-8")
    storage = {
        "storage": f"s3://{bucket}/{PREFIX}",
        "storage_s3_endpoint_url": s3_server,
        "storage_s3_region": S3_TEST_REGION,
    }
    worker = {
        **storage,
        "model_deck": deck,
        "openai_base_url": model.base_url,
        "openai_api_key": KEY,
        "pipe_activity_max_attempts": 1,
    }
    async with (
        serving(model),
        run_stack(
            temporal_address,
            tmp_path / "data",
            api_overrides={**storage, "model_deck": deck},
            worker_overrides=worker,
        ) as stack,
    ):
        yield stack


def main_content(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["state"] == "COMPLETED", body
    return body["pipe_output"]["working_memory"]["root"][body["main_stuff_name"]]["content"]


async def stored_png(s3_server: str, bucket: str, image: dict[str, Any]) -> bytes:
    """The PNG an Image content names, the same through its presigned URL and through boto3."""
    uri: str = image["url"]
    assert uri.startswith(STORAGE_SCHEME)
    object_key = f"{PREFIX}/{uri.removeprefix(STORAGE_SCHEME)}"
    public_url: str = image["public_url"]
    public = urlsplit(public_url)
    assert f"{public.scheme}://{public.netloc}" == s3_server  # presigned on the moto server
    assert public.path == f"/{bucket}/{object_key}"
    assert "X-Amz-Signature" in parse_qs(public.query)
    async with httpx.AsyncClient(timeout=10) as http:
        fetched = await http.get(public_url)
    assert fetched.status_code == 200, fetched.text
    assert fetched.headers["content-type"] == "image/png"
    stored = s3_client(s3_server).get_object(Bucket=bucket, Key=object_key)
    data = stored["Body"].read()
    assert stored.get("ContentType") == "image/png"
    assert fetched.content == data
    assert data.startswith(PNG_SIGNATURE)
    assert png_size(data) == (image["width"], image["height"])
    return data


def printed(text: str) -> bytes:
    pdf = FPDF()
    pdf.set_font("helvetica", size=14)
    pdf.add_page()
    pdf.cell(text=text)
    return bytes(pdf.output())


async def test_a_generated_image_is_stored_in_s3(
    temporal_address: str, tmp_path: Path, s3_server: str, bucket: str
) -> None:
    model = ModelServer("openai", api_key=KEY)
    async with s3_stack(temporal_address, tmp_path, s3_server, bucket, model) as stack:
        body = {
            "mthds_contents": [BUNDLE],
            "pipe_code": "poster",
            "inputs": {"topic": "owls"},
            "pipeline_run_id": "run-s3-img",
        }
        image = main_content(await stack.client.post("/v1/execute", json=body))
    # The exact bytes the test server answered (its PNG for size `auto`).
    assert await stored_png(s3_server, bucket, image) == solid_png(1024, 1024)
    assert "/run-s3-img/" in image["url"]
    assert len(model.requests("/v1/images/generations")) == 1
    assert not (tmp_path / "data" / "storage").exists()  # nothing went to the local store


async def test_extracted_page_views_are_stored_in_s3(
    temporal_address: str, tmp_path: Path, s3_server: str, bucket: str
) -> None:
    pdf = f"data:application/pdf;base64,{base64.b64encode(printed(TEXT)).decode('ascii')}"
    async with s3_stack(temporal_address, tmp_path, s3_server, bucket, ModelServer("openai")) as stack:
        body = {
            "mthds_contents": [BUNDLE],
            "pipe_code": "read_pdf",
            "inputs": {"doc": {"url": pdf}},
            "pipeline_run_id": "run-s3-pdf",
        }
        [page] = main_content(await stack.client.post("/v1/execute", json=body))["items"]
    assert TEXT in page["text_and_images"]["text"]["text"]
    view = page["page_view"]
    await stored_png(s3_server, bucket, view)
    assert abs(view["width"] - 595) <= 1  # A4 at 72 dpi
    assert not (tmp_path / "data" / "storage").exists()
