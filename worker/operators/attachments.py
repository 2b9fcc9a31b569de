"""Image inputs attached to a model call (mthds.md §2.2: "attach image/document inputs referenced by
the prompt"): every Image-compatible input, single or list, read by the worker and sent inline.

Bytes are read here (http(s) through the SSRF guard, storage, `data:`) and sent as `data:` URLs, so a
provider never fetches a URL itself: the guard and the size limit hold whatever the provider is.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from shared.language.library import Library
from shared.language.natives import NATIVE_DOMAIN
from shared.runtime.data_urls import encode_data_url
from shared.runtime.json_values import as_mapping
from shared.runtime.operator_call import OperatorCall
from shared.runtime.run_failure import FailureCode, PipeRunError
from shared.runtime.stuff import Stuff
from worker.files.input_files import InputFiles
from worker.providers.chat import ImagePart

IMAGE: Final = f"{NATIVE_DOMAIN}.Image"
MODEL_IMAGE_TYPES: Final = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


def is_image(library: Library, concept: str) -> bool:
    return IMAGE in library.lineage(concept)


async def image_parts(call: OperatorCall, library: Library, files: InputFiles) -> tuple[ImagePart, ...]:
    """The call's image inputs as parts of the user message, in input order."""
    parts: list[ImagePart] = []
    for name, url, declared in _image_urls(call, library):
        file = await files.read(url, input_name=name, declared_mime_type=declared)
        if file.mime_type not in MODEL_IMAGE_TYPES:
            raise PipeRunError(
                FailureCode.FILE_UNREADABLE,
                f"input '{name}' is not an image a model reads (PNG, JPEG, GIF or WebP): it holds {file.mime_type}",
                params={"input": name, "mime_type": file.mime_type},
            )
        parts.append(ImagePart(encode_data_url(file.data, file.mime_type)))
    return tuple(parts)


def _image_urls(call: OperatorCall, library: Library) -> Iterator[tuple[str, str, str | None]]:
    for name, stuff in call.inputs.items():
        if not is_image(library, stuff.concept):
            continue
        for content in _contents(stuff):
            fields = as_mapping(content)
            url = fields.get("url") if fields is not None else None
            if fields is not None and isinstance(url, str):
                declared = fields.get("mime_type")
                yield name, url, declared if isinstance(declared, str) else None


def _contents(stuff: Stuff) -> list[Any]:
    return stuff.items() if stuff.is_list else [stuff.content]
