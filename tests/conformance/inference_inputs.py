"""Caller inputs for live runs of corpus entries: real files for Document and Image inputs, mocks for the rest.

The inference entries ship no `inputs.json`, so a live run builds its own inputs from the main pipe's
contract. A Document gets a real two-page PDF made with fpdf2 and an Image a real PNG made with Pillow,
both sent inline as `data:` URLs (http-api.md §4.3), so the worker reads genuine bytes through the same
path as a caller's file; every other input takes `MockInputs`' content in the explicit form (§4.2).
"""

from __future__ import annotations

import base64
import io
from typing import Any, Final

from fpdf import FPDF
from PIL import Image, ImageDraw

from shared.language.library import Library, PipeEntry
from shared.language.natives import NATIVE_DOMAIN
from shared.runtime.mock_inputs import MockInputs
from shared.runtime.pipe_contracts import PipeContracts
from shared.runtime.stuff import Stuff

DOCUMENT: Final = f"{NATIVE_DOMAIN}.Document"
IMAGE: Final = f"{NATIVE_DOMAIN}.Image"
# The text lines of each page of the generated PDF: an extraction must find them again.
PDF_PAGES: Final = (
    ("INVOICE 2024-117", "Supplier: Harbour Timber Ltd", "Oak planks x 12: 480.00 EUR"),
    ("Payment terms: 30 days", "Total due: 480.00 EUR"),
)
PNG_SIZE: Final = (64, 48)


def invoice_pdf() -> bytes:
    """A real PDF with a text layer: one page per entry of `PDF_PAGES`."""
    pdf = FPDF(unit="mm", format="A4")
    pdf.set_font("Helvetica", size=12)
    for lines in PDF_PAGES:
        pdf.add_page()
        for line in lines:
            pdf.cell(0, 10, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def label_png() -> bytes:
    """A real PNG: a light background with a dark bar, so it is not a blank image."""
    image = Image.new("RGB", PNG_SIZE, (240, 236, 220))
    ImageDraw.Draw(image).rectangle((8, 16, 56, 32), fill=(40, 60, 90))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def data_url(data: bytes, mime_type: str) -> str:
    return f"data:{mime_type};base64,{base64.b64encode(data).decode()}"


def _file_content(library: Library, concept: str) -> dict[str, Any] | None:
    """A native file content for a Document or Image concept (or a refinement of one), else None."""
    lineage = library.lineage(concept)
    if DOCUMENT in lineage:
        return {
            "url": data_url(invoice_pdf(), "application/pdf"),
            "mime_type": "application/pdf",
            "filename": "invoice.pdf",
        }
    if IMAGE in lineage:
        return {"url": data_url(label_png(), "image/png"), "mime_type": "image/png", "filename": "label.png"}
    return None


def caller_inputs(library: Library, pipe: PipeEntry, seed: str) -> dict[str, Any]:
    """The `inputs` of an execute request for `pipe`: one value per declared input."""
    mocks = MockInputs(library).memory_for(pipe, seed)
    inputs: dict[str, Any] = {}
    for name, declared in PipeContracts(library).of(pipe).inputs.items():
        file = _file_content(library, declared.concept)
        if file is not None:
            count = (declared.spec.count or 1) if declared.spec.is_list else 1
            inputs[name] = [file] * count if declared.spec.is_list else file
            continue
        stuff = mocks.lookup(name)
        assert isinstance(stuff, Stuff), f"no mock for input '{name}'"
        inputs[name] = {
            "concept": stuff.concept,
            "content": stuff.items() if stuff.is_list else stuff.content,
        }
    return inputs
