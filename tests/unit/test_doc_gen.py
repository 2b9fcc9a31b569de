"""PipeDocGen printing real PDF, XLSX and DOCX files into a local blob store."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import docx
import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from shared.language.library import Library
from shared.language.model_deck import builtin_deck
from shared.language.report import BundleSource, ValidationReport
from shared.language.validator import validate_sources
from shared.runtime.operator_call import OperatorCall, OutputTarget, Produced
from shared.runtime.run_failure import PipeRunError
from shared.runtime.stuff import Stuff
from shared.runtime.template_views import TemplateViews
from shared.storage.blob_store import LocalBlobStore
from worker.operators.doc_gen import document_filename, run_doc_gen

HEADER = """
domain      = "shop_notices"
description = "Printing the notice a shop tapes to its door"

[concept.OpeningNotice]
description = "What a shop wants passers-by to know about its opening hours"

[concept.OpeningNotice.structure]
shop_name = { type = "text", description = "The name painted above the shop's door", required = true }
weekdays  = { type = "text", description = "The opening hours from Monday to Friday", required = true }
weekend   = { type = "text", description = "The opening hours on Saturday and Sunday", required = true }

[concept.PrintedNotice]
description = "The notice laid out as a page to print and tape to the door"
refines     = "Document"
"""


def pipe(code: str, fmt: str, extra: str = "") -> str:
    return f"""
[pipe.{code}]
type        = "PipeDocGen"
description = "Lays the opening hours out as a page to print"
inputs      = {{ notice = "OpeningNotice" }}
output      = "PrintedNotice"
format      = "{fmt}"
{extra}
"""


BUNDLE = (
    HEADER
    + pipe("print_notice", "pdf", 'filename = "notice-{{ notice.shop_name }}"')
    + pipe(
        "print_html",
        "pdf",
        "template = '''<h1>Opening hours of {{ notice.shop_name }}</h1><p>Weekdays: {{ notice.weekdays }}</p>'''",
    )
    + pipe("print_image", "pdf", "template = '<style>p {}</style><img src=\"/etc/hostname\">'")
    + pipe("print_escape", "pdf", 'filename = "../../etc/passwd{{ notice.weekend }}"')
    + pipe("print_sheet", "xlsx")
    + pipe("print_word", "docx", 'filename = "Zoë Ångström — Q3.2026"')
    + pipe("print_slides", "pptx", 'template_file = "slides.pptx"')
    + """
[pipe.print_lines]
type        = "PipeDocGen"
description = " "
inputs      = { lines = "Text[]", shop_title = "Text" }
output      = "PrintedNotice"
format      = "docx"
"""
)

# Its validation's dry run refuses it too; a run must still fail when handed such a pipe.
MISSING_FIELD_BUNDLE = HEADER + pipe("print_missing", "pdf", "template = '<p>{{ notice.holidays }}</p>'")
NOTICE = {"shop_name": "Boulangerie Kerlann", "weekdays": "7:00 to 19:30", "weekend": "8:00 to 13:00"}


def load(text: str) -> ValidationReport:
    report = validate_sources([BundleSource(path="bundle.mthds", text=text)], builtin_deck())
    assert report.library is not None
    return report


@pytest.fixture(scope="module")
def library() -> Library:
    report = load(BUNDLE)
    assert report.is_valid, report.issues
    assert report.library is not None
    return report.library


def run(library: Library, store: LocalBlobStore, code: str, notice: dict[str, Any] = NOTICE) -> Produced:
    call = OperatorCall(
        pipe=library.pipes[f"shop_notices.{code}"],
        inputs={"notice": Stuff("notice", "NOTICE1", "shop_notices.OpeningNotice", notice)},
        output=OutputTarget("shop_notices.PrintedNotice"),
        seed="seed",
    )
    return run_doc_gen(call, TemplateViews(library), store, run_key="run-1")


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_automatic_pdf_lays_out_the_inputs(library: Library, tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    produced = run(library, store, "print_notice")
    assert produced.content == {
        "url": "pipelex-storage://run-1/notice-Boulangerie-Kerlann.pdf",
        "mime_type": "application/pdf",
        "filename": "notice-Boulangerie-Kerlann.pdf",
    }
    data = store.get(produced.content["url"])
    assert data.startswith(b"%PDF")
    text = pdf_text(data)
    for expected in (
        "Lays the opening hours out",
        "Notice",
        "Shop name",
        "Boulangerie Kerlann",
        "7:00 to 19:30",
    ):
        assert expected in text


def test_pdf_bytes_are_deterministic(library: Library, tmp_path: Path) -> None:
    first = run(library, LocalBlobStore(tmp_path / "a"), "print_notice")
    second = run(library, LocalBlobStore(tmp_path / "b"), "print_notice")
    read = [(tmp_path / name / "run-1" / "notice-Boulangerie-Kerlann.pdf").read_bytes() for name in "ab"]
    assert first == second
    assert read[0] == read[1]


def test_inline_html_template_prints_its_text(library: Library, tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    produced = run(library, store, "print_html")
    assert produced.content["filename"] == "print_html.pdf"
    text = pdf_text(store.get(produced.content["url"]))
    assert "Opening hours of Boulangerie Kerlann" in text
    assert "Weekdays: 7:00 to 19:30" in text


@pytest.mark.parametrize("code", ["print_notice", "print_html"])
def test_characters_outside_latin1_do_not_crash(library: Library, tmp_path: Path, code: str) -> None:
    store = LocalBlobStore(tmp_path)
    notice = {**NOTICE, "shop_name": "Crêperie € 12 • ✓ Łódź ﬁn 日本", "weekdays": "“7:00” \u2013 19:30"}
    text = pdf_text(store.get(run(library, store, code, notice).content["url"]))
    assert "Crêperie € 12 • v Lódz fin ??" in text
    assert "“7:00” \u2013 19:30" in text


def test_missing_field_fails_the_render_strictly(tmp_path: Path) -> None:
    library = load(MISSING_FIELD_BUNDLE).library
    assert library is not None
    with pytest.raises(PipeRunError) as caught:
        run(library, LocalBlobStore(tmp_path), "print_missing")
    assert caught.value.code == "pipe.template_render_failed"
    assert not any(tmp_path.iterdir())


def test_library_failures_are_typed_and_no_file_is_fetched(library: Library, tmp_path: Path) -> None:
    with pytest.raises(PipeRunError, match="Local file access is disabled") as caught:
        run(library, LocalBlobStore(tmp_path), "print_image")
    assert caught.value.code == "pipe.document_failed"
    assert isinstance(caught.value.__cause__, Exception)
    assert not any(tmp_path.iterdir())


def test_filename_cannot_climb_out_of_the_store(library: Library, tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "store")
    produced = run(library, store, "print_escape", {**NOTICE, "weekend": "/../../x y"})
    assert produced.content["filename"] == "etc-passwd-x-y.pdf"
    assert (tmp_path / "store" / "run-1" / "etc-passwd-x-y.pdf").is_file()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["store"]


@pytest.mark.parametrize(
    ("rendered", "expected"),
    [
        ("notice-Boulangerie Kerlann", "notice-Boulangerie-Kerlann.pdf"),
        ("Zoë Ångström — Q3.2026", "Zoe-Angstrom-Q3-2026.pdf"),
        ("report.pdf", "report.pdf"),
        ("a__b - _c", "a_b-c.pdf"),
        ("日本", "fallback_code.pdf"),
        (None, "fallback_code.pdf"),
        ("x" * 300, f"{'x' * 120}.pdf"),
    ],
)
def test_document_filename(rendered: str | None, expected: str) -> None:
    assert document_filename(rendered, "fallback_code", "pdf") == expected


def test_xlsx_holds_the_values(library: Library, tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    notice = {**NOTICE, "weekend": '=HYPERLINK("http://evil")\x01'}
    produced = run(library, store, "print_sheet", notice)
    assert produced.content["filename"] == "print_sheet.xlsx"
    assert produced.content["mime_type"].endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(store.get(produced.content["url"]))).active
    assert sheet is not None
    rows = [tuple(cell.value for cell in row) for row in sheet.iter_rows()]
    assert ("Notice", "Shop name", "Boulangerie Kerlann") in rows
    assert ("Notice", "Weekdays", "7:00 to 19:30") in rows
    assert ("Notice", "Weekend", '=HYPERLINK("http://evil")') in rows
    assert sheet["C5"].data_type == "s"  # stored as text, never evaluated as a formula


def test_docx_holds_the_values(library: Library, tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    produced = run(library, store, "print_word")
    assert produced.content["filename"] == "Zoe-Angstrom-Q3-2026.docx"
    document = docx.Document(io.BytesIO(store.get(produced.content["url"])))
    paragraphs = [paragraph.text for paragraph in document.paragraphs]
    assert "Lays the opening hours out as a page to print" in paragraphs
    assert "Shop name: Boulangerie Kerlann" in paragraphs
    assert "Weekdays: 7:00 to 19:30" in paragraphs


def test_lists_and_texts_are_laid_out_item_by_item(library: Library, tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    call = OperatorCall(
        pipe=library.pipes["shop_notices.print_lines"],
        inputs={
            "lines": Stuff(
                "lines", "L", "native.Text", {"items": [{"text": "Closed on Monday"}]}, is_list=True
            ),
            "shop_title": Stuff("shop_title", "T", "native.Text", {"text": "Chez Maëlle"}),
        },
        output=OutputTarget("shop_notices.PrintedNotice"),
        seed="seed",
    )
    produced = run_doc_gen(call, TemplateViews(library), store, run_key="run-2")
    document = docx.Document(io.BytesIO(store.get(produced.content["url"])))
    paragraphs = [paragraph.text for paragraph in document.paragraphs]
    assert paragraphs == ["Printed Notice", "Lines", "#1: Closed on Monday", "Shop title", "Chez Maëlle"]


def test_pptx_is_refused_with_a_typed_error(library: Library, tmp_path: Path) -> None:
    with pytest.raises(PipeRunError, match="not supported yet") as caught:
        run(library, LocalBlobStore(tmp_path), "print_slides")
    assert caught.value.code == "pipe.document_failed"
