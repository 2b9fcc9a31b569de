"""Moving the files caller inputs carry as `data:` URLs into the blob store before a run starts.

Each `{"url": "data:..."}` object becomes `{"url": "pipelex-storage://...", "public_url": ..., "mime_type": ...}`,
as the reference does, keyed by content hash so the same file is stored once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from shared.runtime.data_urls import DEFAULT_MAX_BYTES, decode_data_url, is_data_url
from shared.runtime.json_values import as_list, as_mapping
from shared.storage.blob_store import BlobStore


def store_data_urls(
    inputs: Mapping[str, Any], store: BlobStore, *, key_prefix: str, max_bytes: int = DEFAULT_MAX_BYTES
) -> dict[str, Any]:
    """A copy of `inputs` whose data URLs are stored; raises `InputRefused` for unreadable or large files."""
    return {name: _stored(value, name, store, key_prefix, max_bytes) for name, value in inputs.items()}


def _stored(value: Any, input_name: str, store: BlobStore, key_prefix: str, max_bytes: int) -> Any:
    items = as_list(value)
    if items is not None:
        return [_stored(item, input_name, store, key_prefix, max_bytes) for item in items]
    fields = as_mapping(value)
    if fields is None:
        return value
    copied = {key: _stored(item, input_name, store, key_prefix, max_bytes) for key, item in fields.items()}
    url = fields.get("url")
    if is_data_url(url):
        decoded = decode_data_url(str(url), input_name=input_name, max_bytes=max_bytes)
        digest = hashlib.sha256(decoded.data).hexdigest()[:32]
        uri = store.put(f"{key_prefix}/assets/{digest}{decoded.suffix}", decoded.data, decoded.mime_type)
        copied["url"] = uri
        copied["public_url"] = copied.get("public_url") or store.public_url(uri)
        copied["mime_type"] = copied.get("mime_type") or decoded.mime_type
    return copied
