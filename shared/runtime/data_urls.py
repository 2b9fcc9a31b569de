"""`data:` URLs in caller inputs: parsing and decoding them (http-api.md §4.3). Pure.

Decoded bytes go to storage before a run starts and the URL is replaced by a `pipelex-storage://` URI,
so large bytes never travel through working memory or Temporal payloads.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Final

from shared.runtime.caller_inputs import InputCode, InputRefused

DEFAULT_MAX_BYTES: Final = 50 * 1024 * 1024  # MAX_INPUT_FILE_MIB
_DATA_URL = re.compile(
    r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(?:;[\w.+-]+=[^;,]*)*)(?P<b64>;base64)?,", re.ASCII
)
_SUFFIXES: Final = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
}


@dataclass(frozen=True, slots=True)
class DecodedFile:
    mime_type: str
    data: bytes

    @property
    def suffix(self) -> str:
        return suffix_for(self.mime_type)


def suffix_for(mime_type: str) -> str:
    """The file suffix (with its dot) for the types files are stored as; `.bin` for any other."""
    return _SUFFIXES.get(mime_type, ".bin")


def encode_data_url(data: bytes, mime_type: str) -> str:
    """`data` as a base64 `data:` URL (how images reach a model inline)."""
    return f"data:{mime_type};base64,{base64.b64encode(data).decode('ascii')}"


def is_data_url(value: object) -> bool:
    return isinstance(value, str) and value.startswith("data:")


def decode_data_url(url: str, *, input_name: str, max_bytes: int = DEFAULT_MAX_BYTES) -> DecodedFile:
    """The bytes of a base64 `data:` URL; raises `InputRefused` (`input.file_unreadable`, `input.too_large`)."""
    match = _DATA_URL.match(url)
    if match is None or match.group("b64") is None:
        raise InputRefused(
            InputCode.FILE_UNREADABLE,
            f"input '{input_name}': only base64 data URLs are accepted (data:<mime>;base64,<data>)",
            {"input": input_name},
        )
    payload = url[match.end() :]
    # Base64 inflates by 4/3: refuse before decoding what would be too large anyway.
    if len(payload) // 4 * 3 > max_bytes + 3:
        raise InputRefused(
            InputCode.TOO_LARGE,
            f"input '{input_name}': the file is larger than {max_bytes} bytes",
            {"input": input_name, "limit": max_bytes},
        )
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputRefused(
            InputCode.FILE_UNREADABLE,
            f"input '{input_name}': the data URL is not valid base64",
            {"input": input_name},
        ) from exc
    if len(data) > max_bytes:
        raise InputRefused(
            InputCode.TOO_LARGE,
            f"input '{input_name}': the file is larger than {max_bytes} bytes",
            {"input": input_name, "limit": max_bytes, "size": len(data)},
        )
    return DecodedFile(match.group("mime") or "application/octet-stream", data)
