"""Reading the bytes of a Document or Image content's `url` (http-api.md §4.3), bounded and typed.

- `data:` URLs are decoded (the API normally stored them already; the worker accepts them too, since
  operators produce them);
- `pipelex-storage://` URIs are read from the run's blob store;
- `http://` / `https://` URLs are fetched through the SSRF guard (`worker/files/url_fetch.py`).

Every failure is a `PipeRunError` with the input's problem code: `input.file_unreadable`,
`input.too_large`, `input.url_unreachable` (retryable when the server may recover),
`security.input_url_refused`, `input.reference_not_found`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Final

from shared.runtime.caller_inputs import InputRefused
from shared.runtime.data_urls import decode_data_url, is_data_url
from shared.runtime.run_failure import FailureCode, PipeRunError
from shared.storage.blob_store import STORAGE_SCHEME, BlobNotFoundError, BlobStore

DEFAULT_MAX_FILE_BYTES: Final = 50 * 1024 * 1024  # MAX_INPUT_FILE_MIB

# Leading bytes of the formats operators read, so a file's real type wins over its name.
_SIGNATURES: Final = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


@dataclass(frozen=True, slots=True)
class FileBytes:
    data: bytes
    mime_type: str  # sniffed from the bytes when recognisable, else as declared
    url: str


def sniff_mime_type(data: bytes, declared: str | None = None) -> str:
    """The type the bytes really are, for the formats operators read; `declared` otherwise."""
    head = data[:16]
    for signature, mime_type in _SIGNATURES:
        if head.startswith(signature):
            return mime_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return declared or "application/octet-stream"


class InputFiles:
    """Reads input files for one worker; `http_fetcher` is None where http(s) URLs are not allowed."""

    def __init__(
        self,
        store: BlobStore,
        *,
        max_bytes: int = DEFAULT_MAX_FILE_BYTES,
        allow_private_urls: bool = False,
        http_timeout_seconds: float = 30.0,
    ) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self.allow_private_urls = allow_private_urls
        self.http_timeout_seconds = http_timeout_seconds

    async def read(self, url: str, *, input_name: str, declared_mime_type: str | None = None) -> FileBytes:
        """The file's bytes; raises a typed `PipeRunError` naming `input_name`."""
        if is_data_url(url):
            try:
                decoded = decode_data_url(url, input_name=input_name, max_bytes=self.max_bytes)
            except InputRefused as refused:
                raise PipeRunError(refused.code, refused.message, params=refused.params) from refused
            return FileBytes(decoded.data, sniff_mime_type(decoded.data, decoded.mime_type), url)
        if url.startswith(STORAGE_SCHEME):
            data = await asyncio.to_thread(self._stored, url, input_name)
            return FileBytes(data, sniff_mime_type(data, declared_mime_type), url)
        if url.startswith(("http://", "https://")):
            from worker.files.url_fetch import fetch_url

            data, header_type = await fetch_url(
                url,
                input_name=input_name,
                max_bytes=self.max_bytes,
                allow_private=self.allow_private_urls,
                timeout_seconds=self.http_timeout_seconds,
            )
            return FileBytes(data, sniff_mime_type(data, declared_mime_type or header_type), url)
        raise PipeRunError(
            FailureCode.FILE_URL_REFUSED,
            f"input '{input_name}': the URL scheme of '{url[:64]}' is not one a pipe can read",
            params={"input": input_name, "reason": "scheme_not_allowed"},
        )

    def _stored(self, url: str, input_name: str) -> bytes:
        try:
            data = self.store.get(url)
        except BlobNotFoundError as exc:
            raise PipeRunError(
                FailureCode.FILE_NOT_FOUND,
                f"input '{input_name}': nothing is stored at '{url}'",
                params={"input": input_name},
            ) from exc
        if len(data) > self.max_bytes:
            raise PipeRunError(
                FailureCode.FILE_TOO_LARGE,
                f"input '{input_name}' has {len(data)} bytes, over the {self.max_bytes} a file may have",
                params={"input": input_name, "size": len(data), "limit": self.max_bytes},
            )
        return data
