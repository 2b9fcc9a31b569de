"""The PDF work of PipeExtract: pages' text and embedded images with pypdf, page views with pypdfium2.

Bytes in, bytes out: no network, no storage. Every function here blocks (parsing, decoding, rendering),
so callers run them off the event loop. A file that cannot be read fails as `input.file_unreadable`, a
document over `MAX_PAGES` as `input.too_large`, both naming the input. PDFium is not thread-safe, even
across documents, so every call into it holds one process-wide lock.
"""

from __future__ import annotations

import io
import logging
import threading
from dataclasses import dataclass
from pathlib import PurePosixPath
from types import TracebackType
from typing import Final, Protocol, Self, cast

import pypdfium2 as pdfium
from PIL import Image
from pypdf import PasswordType, PdfReader

from shared.runtime.data_urls import suffix_for
from shared.runtime.run_failure import FailureCode, PipeRunError

MAX_PAGES: Final = 500  # a longer document is refused rather than holding a worker for hours
DEFAULT_VIEW_DPI: Final = 72  # the reference's `default_page_views_dpi`
MAX_DPI: Final = 300
MIN_DPI: Final = 18
MAX_VIEW_PIXELS: Final = 25_000_000  # a huge page renders smaller, within this many pixels
PDF_SIGNATURE: Final = b"%PDF-"
_HEADER_WINDOW: Final = 1024  # readers accept a PDF header anywhere in the first KiB
_POINTS_PER_INCH: Final = 72
_DETAIL_LIMIT: Final = 200
_KEPT_FORMATS: Final = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif"}
_PNG_MODES: Final = frozenset({"1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"})

_PDFIUM_LOCK = threading.Lock()
logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Raster:
    """An encoded image and its size in pixels."""

    data: bytes
    mime_type: str
    width: int
    height: int

    @property
    def suffix(self) -> str:
        return suffix_for(self.mime_type)


@dataclass(frozen=True, slots=True)
class PdfPage:
    text: str | None  # None when the text was not asked for
    images: list[Raster]


def looks_like_pdf(data: bytes) -> bool:
    return PDF_SIGNATURE in data[:_HEADER_WINDOW]


def unreadable(input_name: str, why: str) -> PipeRunError:
    return PipeRunError(
        FailureCode.FILE_UNREADABLE, f"input '{input_name}' {why}", params={"input": input_name}
    )


def _detail(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:_DETAIL_LIMIT]


def open_pdf(data: bytes, *, input_name: str, max_pages: int = MAX_PAGES) -> PdfReader:
    """The parsed document; refuses what is not a PDF, an encrypted one it cannot open, an empty one,
    and one of more than `max_pages` pages."""
    if not looks_like_pdf(data):
        raise unreadable(input_name, "is not a PDF: its bytes do not begin with '%PDF-'")
    try:
        reader = PdfReader(io.BytesIO(data))
        locked = reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED
        count = 0 if locked else len(reader.pages)
    except Exception as exc:
        # pypdf raises many kinds of errors on damaged files; each means the same for the run.
        raise unreadable(input_name, f"is a PDF that cannot be read ({_detail(exc)})") from exc
    if locked:
        raise unreadable(input_name, "is an encrypted PDF that opens only with a password")
    if count == 0:
        raise unreadable(input_name, "is a PDF without pages")
    if count > max_pages:
        raise PipeRunError(
            FailureCode.FILE_TOO_LARGE,
            f"input '{input_name}' has {count} pages, over the {max_pages} a PipeExtract reads",
            params={"input": input_name, "pages": count, "limit": max_pages},
        )
    return reader


def read_page(
    reader: PdfReader,
    index: int,
    *,
    input_name: str,
    with_text: bool = True,
    image_limit: int | None = None,
    image_min_size: int = 0,
) -> PdfPage:
    """Page `index`'s text (when asked) and up to `image_limit` embedded images (None: all) whose sides
    are both at least `image_min_size` pixels. An image pypdf cannot decode is left out."""
    try:
        page = reader.pages[index]
        text = page.extract_text() if with_text else None
    except Exception as exc:
        raise unreadable(
            input_name, f"has a page {index + 1} whose text cannot be read ({_detail(exc)})"
        ) from exc
    if image_limit == 0:
        return PdfPage(text, [])
    images: list[Raster] = []
    try:
        embedded = page.images
        count = len(embedded)
    except Exception:
        logger.warning(
            "page %d of input '%s': its images cannot be listed", index + 1, input_name, exc_info=True
        )
        return PdfPage(text, [])
    for position in range(count):
        if image_limit is not None and len(images) >= image_limit:
            break
        try:
            found = embedded[position]
            picture = cast("Image.Image | None", found.image)  # pyright: ignore[reportUnknownMemberType] -- pypdf types it loosely
            if picture is None or min(picture.size) < image_min_size:
                continue
            images.append(_raster(found.name, found.data, picture))
        except Exception:
            # Exotic filters and broken streams: the page's other images and its text still count.
            logger.warning(
                "page %d of input '%s': an image cannot be decoded", index + 1, input_name, exc_info=True
            )
    return PdfPage(text, images)


def _raster(name: str, data: bytes, picture: Image.Image) -> Raster:
    width, height = picture.size
    mime_type = _KEPT_FORMATS.get(PurePosixPath(name).suffix.lower())
    if mime_type is not None:
        return Raster(data, mime_type, width, height)
    return Raster(_png(picture), "image/png", width, height)


def _png(picture: Image.Image) -> bytes:
    if picture.mode not in _PNG_MODES:
        picture = picture.convert("RGBA" if "A" in picture.mode else "RGB")
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


def probe_image(data: bytes, mime_type: str, *, input_name: str) -> Raster:
    """An image file with its size read from its header; `input.file_unreadable` when it is not one."""
    try:
        with Image.open(io.BytesIO(data)) as picture:
            width, height = picture.size
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise unreadable(input_name, f"is not a readable image ({_detail(exc)})") from exc
    return Raster(data, mime_type, width, height)


def view_dpi(requested: int | None) -> int:
    """`page_views_dpi` brought within [MIN_DPI, MAX_DPI]; the reference's 72 when unset."""
    return DEFAULT_VIEW_DPI if requested is None else min(max(requested, MIN_DPI), MAX_DPI)


def render_scale(width_points: float, height_points: float, dpi: int) -> float:
    """Pixels per point at `dpi`, lowered so the page stays within MAX_VIEW_PIXELS."""
    scale = dpi / _POINTS_PER_INCH
    pixels = width_points * height_points * scale * scale
    if pixels > MAX_VIEW_PIXELS:
        scale *= (MAX_VIEW_PIXELS / pixels) ** 0.5
    return scale


class _Bitmap(Protocol):
    """What we use of a pypdfium2 bitmap."""

    def to_pil(self) -> Image.Image: ...

    def close(self) -> None: ...


class PageRenderer:
    """One open document rendering its pages to PNG; close it (or use it as a context manager)."""

    def __init__(self, data: bytes, *, input_name: str) -> None:
        self.input_name = input_name
        with _PDFIUM_LOCK:
            try:
                self._document = pdfium.PdfDocument(data)
            except pdfium.PdfiumError as exc:
                raise unreadable(input_name, f"is a PDF that cannot be rendered ({_detail(exc)})") from exc

    def render(self, index: int, dpi: int) -> Raster:
        """Page `index` as a PNG at `dpi` (white background, as printed)."""
        with _PDFIUM_LOCK:
            page = self._document[index]
            try:
                width, height = page.get_size()
                scale = render_scale(width, height, dpi)
                bitmap = cast("_Bitmap", page.render(scale=scale))  # pyright: ignore[reportUnknownMemberType, reportArgumentType] -- pypdfium2's render is untyped
                try:
                    picture = bitmap.to_pil()
                    data = _png(picture)
                    size = picture.size
                finally:
                    bitmap.close()
            except pdfium.PdfiumError as exc:
                raise unreadable(
                    self.input_name, f"has a page {index + 1} that cannot be rendered ({_detail(exc)})"
                ) from exc
            finally:
                page.close()
        return Raster(data, "image/png", size[0], size[1])

    def close(self) -> None:
        with _PDFIUM_LOCK:
            self._document.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
