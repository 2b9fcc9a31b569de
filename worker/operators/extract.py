"""PipeExtract for real (mthds.md §2.6): one `Page` per page of a PDF, or one `Page` for an image.

- A PDF read by a local deck model (provider "local", the builtin `pypdf-text`): each page's text layer
  and embedded images with pypdf; no model call.
- A PDF read by a vision model (any other provider): each page rendered with pypdfium2 at 150 dpi and
  transcribed by the model (OCR, for scanned pages); embedded images as above.
- An image read by a vision model: one call. A local model has no OCR: its one page holds no text and
  the image itself as the page view (what `@default-no-inference` promises: no model call).

The file's bytes decide between PDF and image; a file whose declared type (`mime_type`, else the
filename's suffix) says otherwise is refused. Embedded images (at most `max_page_images`, else the
setting's `max_nb_images`, else 1000, for the whole document; both sides at least `image_min_size`
pixels) and page views (`page_views`, at `page_views_dpi`: 72 by default, kept within 18-300) are
stored under the run's files, so the Page[] content itself carries text and URLs only.
`page_image_captions`, `render_js` and `include_raw_html` (web pages) have no effect here.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Final

from shared.language.model_choice import DEFAULT_EXTRACT_DOCUMENT, DEFAULT_EXTRACT_IMAGE
from shared.language.model_deck import ModelFamily
from shared.language.pipe_blueprints import ExtractSetting, PipeExtract
from shared.runtime.data_urls import encode_data_url
from shared.runtime.json_values import as_mapping
from shared.runtime.operator_call import OperatorCall, Produced
from shared.runtime.run_failure import FailureCode, PipeRunError
from shared.storage.blob_store import BlobStore
from worker.files.input_files import sniff_mime_type
from worker.operators.attachments import MODEL_IMAGE_TYPES
from worker.operators.context import OperatorContext
from worker.operators.model_calls import resolve_model
from worker.operators.page_vision import PageReader, bounded
from worker.operators.pdf_pages import (
    PageRenderer,
    Raster,
    looks_like_pdf,
    open_pdf,
    probe_image,
    read_page,
    unreadable,
    view_dpi,
)

LOCAL_PROVIDER: Final = "local"
OCR_DPI: Final = 150  # sharp enough for a vision model to read body text
MAX_DOCUMENT_IMAGES: Final = 1000  # when the pipe sets no limit: keeps the output and storage bounded
PDF: Final = "pdf"
IMAGE: Final = "image"
_IMAGE_SUFFIXES: Final = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp"})


@dataclass(frozen=True, slots=True)
class _Options:
    image_limit: int
    image_min_size: int
    page_views: bool
    dpi: int


@dataclass(frozen=True, slots=True)
class _RunFiles:
    """Where this extraction's images go: one folder per input file (by content hash) under the run."""

    store: BlobStore
    folder: str

    def _put(self, raster: Raster, stem: str) -> dict[str, Any]:
        filename = f"{stem}{raster.suffix}"
        uri = self.store.put(f"{self.folder}/{filename}", raster.data, raster.mime_type)
        return {
            "url": uri,
            "public_url": self.store.public_url(uri),
            "mime_type": raster.mime_type,
            "width": raster.width,
            "height": raster.height,
            "filename": filename,
        }

    async def image(self, raster: Raster, stem: str) -> dict[str, Any]:
        return await asyncio.to_thread(self._put, raster, stem)

    async def page_images(self, rasters: list[Raster], number: int) -> list[dict[str, Any]]:
        def put_all() -> list[dict[str, Any]]:
            return [self._put(raster, f"page-{number}-image-{k}") for k, raster in enumerate(rasters, 1)]

        return await asyncio.to_thread(put_all) if rasters else []


async def run_extract(call: OperatorCall, context: OperatorContext) -> Produced:
    """The call's `Page[]`; failures raise a typed `PipeRunError`."""
    blueprint = call.pipe.blueprint
    if not isinstance(blueprint, PipeExtract):
        msg = f"run_extract runs PipeExtract pipes, not {blueprint.type}"
        raise TypeError(msg)
    name, fields = _the_input(call)
    declared = fields.get("mime_type")
    file = await context.files.read(
        fields["url"], input_name=name, declared_mime_type=declared if isinstance(declared, str) else None
    )
    kind, mime_type = _kind(file.data, fields, name)
    setting, chosen = (
        (blueprint.model, blueprint.model.model)
        if isinstance(blueprint.model, ExtractSetting)
        else (None, blueprint.model)
    )
    default = DEFAULT_EXTRACT_DOCUMENT if kind == PDF else DEFAULT_EXTRACT_IMAGE
    handle, model = resolve_model(context.deck, ModelFamily.EXTRACT, chosen, [default])
    reader = None
    if model.provider != LOCAL_PROVIDER:
        reader = PageReader(context.providers.provider_for(model), handle, model, call.pipe.code)
    limit = blueprint.max_page_images
    if limit is None and setting is not None:
        limit = setting.max_nb_images
    options = _Options(
        image_limit=MAX_DOCUMENT_IMAGES if limit is None else max(limit, 0),
        image_min_size=(setting.image_min_size if setting is not None else None) or 0,
        page_views=bool(blueprint.page_views),
        dpi=view_dpi(blueprint.page_views_dpi),
    )
    digest = await asyncio.to_thread(lambda: hashlib.sha256(file.data).hexdigest()[:32])
    files = _RunFiles(context.store, f"{context.run_key}/extract/{digest}")
    if kind == IMAGE:
        pages = [await _image_page(file.data, mime_type, name, reader, options, files)]
    elif reader is None:
        pages = await _text_layer_pages(file.data, name, options, files)
    else:
        pages = await _vision_pages(file.data, name, reader, options, files)
    return Produced({"items": pages}, usages=reader.records() if reader is not None else ())


def _the_input(call: OperatorCall) -> tuple[str, dict[str, Any]]:
    """The one input's name and file content."""
    if len(call.inputs) == 1:
        name, stuff = next(iter(call.inputs.items()))
        fields = None if stuff.is_list else as_mapping(stuff.content)
        if fields is not None and isinstance(fields.get("url"), str):
            return name, dict(fields)
    names = ", ".join(f"'{name}'" for name in call.inputs) or "none"
    raise PipeRunError(
        FailureCode.INPUT_MISMATCH,
        f"PipeExtract '{call.pipe.code}' reads exactly one Document or Image (a content with a 'url'); it got {names}",
        params={"inputs": list(call.inputs)},
    )


def _kind(data: bytes, fields: dict[str, Any], name: str) -> tuple[str, str]:
    """PDF or image, and the real MIME type, from the bytes; refused when the declared type disagrees."""
    sniffed = sniff_mime_type(data)
    real = PDF if looks_like_pdf(data) else IMAGE if sniffed in MODEL_IMAGE_TYPES else None
    declared, said = _declared(fields)
    if real is None:
        if declared == PDF:
            raise unreadable(
                name, f"is declared a PDF ({said}) but is not one: its bytes do not begin with '%PDF-'"
            )
        raise unreadable(name, "is neither a PDF nor an image a PipeExtract reads (PNG, JPEG, GIF or WebP)")
    if declared is not None and declared != real:
        raise unreadable(
            name, f"is declared {'a PDF' if declared == PDF else 'an image'} ({said}) but holds {sniffed}"
        )
    return real, "application/pdf" if real == PDF else sniffed


def _declared(fields: dict[str, Any]) -> tuple[str | None, str]:
    mime_type, filename = fields.get("mime_type"), fields.get("filename")
    if isinstance(mime_type, str):
        if mime_type == "application/pdf":
            return PDF, mime_type
        if mime_type.startswith("image/"):
            return IMAGE, mime_type
    if isinstance(filename, str):
        suffix = PurePosixPath(filename).suffix.lower()
        if suffix == ".pdf":
            return PDF, filename
        if suffix in _IMAGE_SUFFIXES:
            return IMAGE, filename
    return None, ""


def _page(text: str | None, images: list[dict[str, Any]], view: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "text_and_images": {
            "text": None if text is None else {"text": text},
            "images": images,
            "raw_html": None,
        },
        "page_view": view,
    }


async def _image_page(
    data: bytes, mime_type: str, name: str, reader: PageReader | None, options: _Options, files: _RunFiles
) -> dict[str, Any]:
    raster = await asyncio.to_thread(probe_image, data, mime_type, input_name=name)
    if reader is None:  # no OCR: the page is the image itself
        return _page(None, [], await files.image(raster, "page-1-view"))
    text = await reader.transcribe(encode_data_url(data, mime_type), 1)
    view = await files.image(raster, "page-1-view") if options.page_views else None
    return _page(text, [], view)


async def _text_layer_pages(
    data: bytes, name: str, options: _Options, files: _RunFiles
) -> list[dict[str, Any]]:
    document = await asyncio.to_thread(open_pdf, data, input_name=name)
    renderer = await asyncio.to_thread(PageRenderer, data, input_name=name) if options.page_views else None
    try:
        remaining = options.image_limit
        pages: list[dict[str, Any]] = []
        for index in range(len(document.pages)):
            found = await asyncio.to_thread(
                read_page,
                document,
                index,
                input_name=name,
                image_limit=remaining,
                image_min_size=options.image_min_size,
            )
            remaining -= len(found.images)
            view = None
            if renderer is not None:
                shown = await asyncio.to_thread(renderer.render, index, options.dpi)
                view = await files.image(shown, f"page-{index + 1}-view-{options.dpi}dpi")
            pages.append(_page(found.text, await files.page_images(found.images, index + 1), view))
        return pages
    finally:
        if renderer is not None:
            await asyncio.to_thread(renderer.close)


async def _vision_pages(
    data: bytes, name: str, reader: PageReader, options: _Options, files: _RunFiles
) -> list[dict[str, Any]]:
    document = await asyncio.to_thread(open_pdf, data, input_name=name)
    count = len(document.pages)
    images: list[list[dict[str, Any]]] = []
    remaining = options.image_limit
    for index in range(count):  # in page order, so the image budget goes to the first pages
        found = (
            await asyncio.to_thread(
                read_page,
                document,
                index,
                input_name=name,
                with_text=False,
                image_limit=remaining,
                image_min_size=options.image_min_size,
            )
            if remaining > 0
            else None
        )
        remaining -= len(found.images) if found is not None else 0
        images.append(await files.page_images(found.images, index + 1) if found is not None else [])
    renderer = await asyncio.to_thread(PageRenderer, data, input_name=name)

    async def page(index: int) -> dict[str, Any]:
        number = index + 1
        picture = await asyncio.to_thread(renderer.render, index, OCR_DPI)
        view = None
        if options.page_views:
            shown = (
                picture
                if options.dpi == OCR_DPI
                else await asyncio.to_thread(renderer.render, index, options.dpi)
            )
            view = await files.image(shown, f"page-{number}-view-{options.dpi}dpi")
        text = await reader.transcribe(encode_data_url(picture.data, picture.mime_type), number)
        return _page(text, images[index], view)

    try:
        return await bounded([functools.partial(page, index) for index in range(count)])
    finally:
        await asyncio.to_thread(renderer.close)
