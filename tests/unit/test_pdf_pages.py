"""The PDF work of PipeExtract on real PDFs printed with fpdf2: text, embedded images, page views, and
the typed refusals of files that are not PDFs, damaged, encrypted or too long."""

from __future__ import annotations

import io

import pytest
from fpdf import FPDF
from PIL import Image
from pypdf import PdfWriter

from shared.runtime.run_failure import PipeRunError
from worker.operators.pdf_pages import (
    MAX_PAGES,
    MAX_VIEW_PIXELS,
    PageRenderer,
    looks_like_pdf,
    open_pdf,
    probe_image,
    read_page,
    render_scale,
    view_dpi,
)

RED = (200, 10, 10)
OWNER_SECRET = "owner-secret"  # noqa: S105 -- not a credential: a test PDF's owner password
TEXTS = ["Page one lists the croissants", "Page two shows the oven", "Page three gives the prices"]


def png(width: int, height: int, color: tuple[int, int, int] = RED) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


def printed(texts: list[str], *, picture: bytes | None = None, picture_page: int = 2) -> bytes:
    """An A4 PDF, one page per text; `picture` drawn 40 mm wide at (20 mm, 40 mm) on `picture_page`."""
    pdf = FPDF()
    pdf.set_font("helvetica", size=14)
    for number, text in enumerate(texts, 1):
        pdf.add_page()
        pdf.cell(text=text)
        if picture is not None and number == picture_page:
            pdf.image(io.BytesIO(picture), x=20, y=40, w=40)
    return bytes(pdf.output())


def encrypted(data: bytes, *, opens_with: str) -> bytes:
    """`data` encrypted with AES; `opens_with` is the reader's password ("" opens without one)."""
    writer = PdfWriter(clone_from=io.BytesIO(data))
    writer.encrypt(user_password=opens_with, owner_password=OWNER_SECRET, algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def refusal(data: bytes) -> PipeRunError:
    with pytest.raises(PipeRunError) as caught:
        open_pdf(data, input_name="doc")
    return caught.value


def test_each_page_gives_its_text_and_embedded_image() -> None:
    reader = open_pdf(printed(TEXTS, picture=png(40, 30)), input_name="doc")
    pages = [read_page(reader, index, input_name="doc") for index in range(len(reader.pages))]
    assert [page.text is not None and text in page.text for page, text in zip(pages, TEXTS, strict=True)] == [
        True,
        True,
        True,
    ]
    assert [len(page.images) for page in pages] == [0, 1, 0]
    [image] = pages[1].images
    assert (image.mime_type, image.width, image.height) == ("image/png", 40, 30)
    with Image.open(io.BytesIO(image.data)) as decoded:
        assert decoded.size == (40, 30)
        assert decoded.convert("RGB").getpixel((5, 5)) == RED


def test_image_limit_min_size_and_text_switch() -> None:
    reader = open_pdf(printed(TEXTS, picture=png(40, 30)), input_name="doc")
    assert read_page(reader, 1, input_name="doc", image_limit=0).images == []
    assert read_page(reader, 1, input_name="doc", image_min_size=31).images == []  # 30 px high
    assert len(read_page(reader, 1, input_name="doc", image_min_size=30).images) == 1
    without_text = read_page(reader, 1, input_name="doc", with_text=False)
    assert without_text.text is None
    assert len(without_text.images) == 1


def test_a_password_free_encryption_opens_and_a_user_password_is_refused() -> None:
    data = printed(TEXTS[:1])
    owner_only = open_pdf(encrypted(data, opens_with=""), input_name="doc")
    assert TEXTS[0] in (read_page(owner_only, 0, input_name="doc").text or "")
    refused = refusal(encrypted(data, opens_with="reader-secret"))
    assert refused.code == "input.file_unreadable"
    assert "password" in refused.message
    assert refused.params == {"input": "doc"}
    assert not refused.retryable


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"Opening hours: 7am to 7pm, every day but Monday.\n", "%PDF-"),
        (png(10, 10), "%PDF-"),
        (printed(TEXTS)[:300], "cannot be read"),
        (b"%PDF-1.7\n" + bytes(range(256)) * 8, "cannot be read"),
    ],
    ids=["text", "png", "truncated", "garbage-after-header"],
)
def test_what_is_not_a_readable_pdf_is_refused_typed(data: bytes, says: str) -> None:
    refused = refusal(data)
    assert refused.code == "input.file_unreadable"
    assert says in refused.message
    assert "'doc'" in refused.message


def test_a_document_over_the_page_limit_is_too_large() -> None:
    writer = PdfWriter()
    for _ in range(MAX_PAGES + 1):
        writer.add_blank_page(width=200, height=200)
    out = io.BytesIO()
    writer.write(out)
    refused = refusal(out.getvalue())
    assert refused.code == "input.too_large"
    assert refused.params == {"input": "doc", "pages": MAX_PAGES + 1, "limit": MAX_PAGES}
    assert len(open_pdf(out.getvalue(), input_name="doc", max_pages=MAX_PAGES + 1).pages) == MAX_PAGES + 1


def test_page_views_render_the_page_at_the_asked_dpi() -> None:
    data = printed(TEXTS, picture=png(40, 30))
    with PageRenderer(data, input_name="doc") as renderer:
        view = renderer.render(1, 72)
        double = renderer.render(1, 144)
    assert view.mime_type == "image/png"
    assert view.data.startswith(b"\x89PNG")
    assert abs(view.width - 595) <= 1  # A4 is 595 x 842 points
    assert abs(view.height - 842) <= 1
    assert abs(double.width - 2 * view.width) <= 2
    with Image.open(io.BytesIO(view.data)) as decoded:
        rgb = decoded.convert("RGB")
        # The picture covers 20-60 mm across and 40-70 mm down: its middle is red, the margin is white.
        assert rgb.getpixel((int(40 / 25.4 * 72), int(55 / 25.4 * 72))) == RED
        assert rgb.getpixel((5, 5)) == (255, 255, 255)


def test_a_file_pdfium_cannot_open_is_unreadable() -> None:
    with pytest.raises(PipeRunError) as caught:
        PageRenderer(b"%PDF-1.7 nothing else", input_name="scan")
    assert caught.value.code == "input.file_unreadable"
    assert caught.value.params == {"input": "scan"}


def test_dpi_and_scale_stay_bounded() -> None:
    assert [view_dpi(None), view_dpi(1), view_dpi(150), view_dpi(5000)] == [72, 18, 150, 300]
    assert render_scale(72, 72, 144) == 2
    huge = render_scale(14_400, 14_400, 300)  # a 200-inch square page
    assert (14_400 * huge) ** 2 <= MAX_VIEW_PIXELS * 1.001


def test_pdf_detection_and_image_probe() -> None:
    assert looks_like_pdf(b"\n\n%PDF-1.4 ...")
    assert not looks_like_pdf(png(4, 4))
    probed = probe_image(png(12, 7), "image/png", input_name="photo")
    assert (probed.width, probed.height, probed.suffix) == (12, 7, ".png")
    with pytest.raises(PipeRunError) as caught:
        probe_image(b"\x89PNG\r\n\x1a\nbroken", "image/png", input_name="photo")
    assert caught.value.code == "input.file_unreadable"
