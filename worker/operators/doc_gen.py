"""PipeDocGen: print a pipe's inputs (or its rendered HTML template) as a PDF, XLSX or DOCX and store it.

No Unicode TTF ships with our dependencies, so PDFs use fpdf2's core fonts in cp1252 (€, •, curly quotes
print as such); any other character is folded to a close spelling (ő → o, ✓ → v, ﬁ → fi) or else "?".
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final, cast

import docx
from fpdf import FPDF
from fpdf.enums import ResourceAccessPolicy, XPos, YPos
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font

from shared.language.pipe_blueprints import PipeDocGen
from shared.language.template_stuff import TextFormat, render_stuff, render_value
from shared.runtime.operator_call import OperatorCall, Produced
from shared.runtime.operator_prompts import render_operator_templates
from shared.runtime.run_failure import FailureCode, PipeRunError
from shared.runtime.template_views import TemplateViews
from shared.storage.blob_store import BlobStore

MIME_TYPES: Final = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
# A fixed creation date makes two runs over the same inputs print byte-identical PDFs.
_PDF_DATE: Final = datetime(2000, 1, 1, tzinfo=UTC)
_MAX_STEM: Final = 120  # long enough for any name a person reads, far below any store's key limit
_UNSAFE_RUN: Final = re.compile(r"[^A-Za-z0-9_-]+")
_SEPARATOR_RUN: Final = re.compile(r"[-_]{2,}")
# fpdf2 prints what a <style> or <script> holds as text; a stylesheet is not part of the document's text.
_INVISIBLE: Final = re.compile(r"<(style|script)\b[^>]*>.*?</\1\s*>", re.DOTALL | re.IGNORECASE)
_XLSX_CELL_LIMIT: Final = 32_767  # Excel refuses to open a workbook holding a longer cell
# Characters NFKD leaves whole, spelled as a reader would type them.
_SPELLINGS: Final = str.maketrans(
    {
        "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "\u0131": "i", "ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE",
        "œ": "oe", "Œ": "OE", "ß": "ss", "þ": "th", "Þ": "Th", "ð": "d", "Ð": "D", "✓": "v", "✔": "v",
        "✗": "x", "✘": "x", "→": "->", "←": "<-", "≤": "<=", "≥": ">=", "≠": "!=", "\u2212": "-",
    }
)  # fmt: skip

Fields = list[tuple[str, str]]  # (label, text); an empty label for a value without fields
Section = tuple[str, Fields]  # one input: its heading, then its fields


def run_doc_gen(call: OperatorCall, views: TemplateViews, store: BlobStore, *, run_key: str) -> Produced:
    """Print the call's document, store it under `run_key`, and answer its Document content."""
    blueprint = call.pipe.blueprint
    if not isinstance(blueprint, PipeDocGen):
        msg = f"pipe '{call.pipe.code}' is not a PipeDocGen"
        raise TypeError(msg)
    if blueprint.template_file is not None or blueprint.format == "pptx":
        raise PipeRunError(
            FailureCode.DOCUMENT_FAILED,
            f"printing from a template file ({blueprint.format}) is not supported yet by this service",
            params={"format": blueprint.format},
        )
    rendered = render_operator_templates(call, views)
    filename = document_filename(rendered.get("filename"), call.pipe.code, blueprint.format)
    title = blueprint.description.strip() or _humanize(call.output.concept.rpartition(".")[2])
    try:
        if "template" in rendered:
            data = _html_pdf(rendered["template"], title)
        else:
            data = _PRINTERS[blueprint.format](title, _sections(call, views))
    except Exception as exc:
        # fpdf2, openpyxl and python-docx raise whatever they like; the run fails typed, never raw.
        raise PipeRunError(
            FailureCode.DOCUMENT_FAILED,
            f"printing the {blueprint.format} document failed: {type(exc).__name__}: {exc}",
            params={"format": blueprint.format},
        ) from exc
    mime_type = MIME_TYPES[blueprint.format]
    uri = store.put(f"{run_key}/{filename}", data, mime_type)
    return Produced({"url": uri, "mime_type": mime_type, "filename": filename})


def document_filename(rendered: str | None, pipe_code: str, suffix: str) -> str:
    """A file name safe in any store: ASCII letters, digits, `-` and `_`, then `.suffix`.

    Spaces and every other character become one hyphen, so `notice-Boulangerie Kerlann` gives
    `notice-Boulangerie-Kerlann.pdf` and `../../etc/passwd` gives `etc-passwd.pdf`.
    """
    stem = _safe_stem(rendered or "", suffix) or _safe_stem(pipe_code, suffix) or "document"
    return f"{stem}.{suffix}"


def _safe_stem(name: str, suffix: str) -> str:
    stem = _fold(name[: 8 * _MAX_STEM]).strip()  # bounded work whatever a caller's text holds
    if stem.lower().endswith(f".{suffix}"):
        stem = stem[: -len(suffix) - 1]  # a name already carrying its suffix doesn't get it twice
    stem = _UNSAFE_RUN.sub("-", stem)
    stem = _SEPARATOR_RUN.sub(lambda run: "-" if "-" in run.group() else "_", stem)
    return stem[:_MAX_STEM].strip("-_")


def _fold(text: str) -> str:
    """Letters with their marks dropped and compatibility forms split (`Zoë` → `Zoe`, `ﬁ` → `fi`)."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_SPELLINGS))
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _in_cp1252(text: str) -> bool:
    return text.encode("cp1252", errors="replace").decode("cp1252") == text


def _cp1252(text: str) -> str:
    """`text` with every character cp1252 lacks folded to a close spelling, or "?"."""
    if _in_cp1252(text):
        return text
    folded = (char if _in_cp1252(char) else _fold(char) for char in text)
    return "".join(part if _in_cp1252(part) else "?" for part in folded)


def _humanize(name: str) -> str:
    """`shop_name` reads "Shop name", a concept's `PrintedNotice` reads "Printed Notice"."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).replace("_", " ").strip()
    return words[:1].upper() + words[1:] if words else name


def _sections(call: OperatorCall, views: TemplateViews) -> list[Section]:
    """Each input as a heading and its fields: a structure field by field, a list item by item."""
    sections: list[Section] = []
    for name, stuff in call.inputs.items():
        view = views.view(stuff)
        content: Any = stuff.content
        fields: Fields
        if stuff.is_list:
            items = view.item_views()
            fields = [
                (f"#{index}", render_stuff(item, TextFormat.PLAIN)) for index, item in enumerate(items, 1)
            ]
        elif view.base == "Structured" and isinstance(content, Mapping):
            fields = [
                (_humanize(key), render_value(value, TextFormat.PLAIN))
                for key, value in cast("Mapping[str, Any]", content).items()
                if value is not None
            ]
        else:
            fields = [("", render_stuff(view, TextFormat.PLAIN))]
        sections.append((_humanize(name), fields))
    return sections


class _Pdf(FPDF):
    """An FPDF whose core fonts print cp1252 and fold anything else instead of raising."""

    def __init__(self) -> None:
        super().__init__()
        self.core_fonts_encoding = "cp1252"
        self.set_creation_date(_PDF_DATE)
        # A template's <img src> may name any URL or path: the worker fetches nothing, only data: URLs load.
        self.resource_access_policy = ResourceAccessPolicy.NONE

    def normalize_text(self, text: str) -> str:
        return super().normalize_text(text if self.is_ttf_font else _cp1252(text))

    def block(self, text: str, size: float, style: str = "") -> None:
        self.set_font("helvetica", style, size)
        self.multi_cell(0, size * 0.5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _html_pdf(html: str, title: str) -> bytes:
    pdf = _Pdf()
    pdf.add_page()
    pdf.write_html(_INVISIBLE.sub("", html))
    if not pdf.title:  # a <title> in the template names the document first
        pdf.set_title(title)
    return bytes(pdf.output())


def _layout_pdf(title: str, sections: list[Section]) -> bytes:
    pdf = _Pdf()
    pdf.set_title(title)
    pdf.add_page()
    pdf.block(title, 18, "B")
    for heading, fields in sections:
        pdf.ln(4)
        pdf.block(heading, 14, "B")
        for label, text in fields:
            if label:
                pdf.block(label, 11, "B")
            pdf.block(text, 11)
    return bytes(pdf.output())


def _xml_text(text: str) -> str:
    return ILLEGAL_CHARACTERS_RE.sub("", text)  # control characters are illegal in office files' XML


def _layout_xlsx(title: str, sections: list[Section]) -> bytes:
    workbook = Workbook()
    workbook.remove(workbook.worksheets[0])  # the default sheet, replaced by one typed as a worksheet
    sheet = workbook.create_sheet("Document")
    rows = [[title], ["Input", "Field", "Value"]]
    rows += [[heading, label, text] for heading, fields in sections for label, text in fields]
    for row in rows:
        sheet.append([_xml_text(value)[:_XLSX_CELL_LIMIT] for value in row])
    bold = Font(bold=True)
    for row_number, row in enumerate(sheet.iter_rows(), 1):
        for cell in row:
            # A value such as "=HYPERLINK(...)" is the input's text, never a formula to evaluate.
            if cell.data_type == "f":
                cell.data_type = "s"
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            if row_number <= 2:  # the title and the column names
                cell.font = bold
    for column, width in (("A", 24), ("B", 24), ("C", 80)):
        sheet.column_dimensions[column].width = width
    stream = io.BytesIO()
    workbook.save(stream)
    return stream.getvalue()


def _layout_docx(title: str, sections: list[Section]) -> bytes:
    document = docx.Document()
    document.core_properties.title = _xml_text(title)
    document.add_heading(_xml_text(title), 0)
    for heading, fields in sections:
        document.add_heading(_xml_text(heading), 1)
        for label, text in fields:
            paragraph = document.add_paragraph()
            if label:
                paragraph.add_run(f"{_xml_text(label)}: ").bold = True
            paragraph.add_run(_xml_text(text))
    stream = io.BytesIO()
    document.save(stream)
    return stream.getvalue()


_PRINTERS: Final[dict[str, Callable[[str, list[Section]], bytes]]] = {
    "pdf": _layout_pdf, "xlsx": _layout_xlsx, "docx": _layout_docx
}  # fmt: skip
