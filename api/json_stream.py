"""A JSON answer written as it is read: stored contents (`shared/runtime/content_refs.py`) are streamed
from the blob store in place of their markers, one page of items at a time.

A run's results may hold a 100,000-item list or a 50 MB text: the route hands the body with its
markers to `stream_json`, and no reader of `/results` makes the API hold the whole answer at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, cast

from shared.runtime.content_refs import is_content_ref, is_pages_ref, ref_uri
from shared.storage.blob_store import BlobStore
from shared.storage.item_pages import read_manifest, read_page

# Pieces are gathered to about this size before they are sent: fewer, larger writes.
_CHUNK_CHARS = 64 * 1024


def stream_json(value: Any, store: BlobStore) -> Iterator[bytes]:
    """`value` as compact JSON, in pieces, with each stored content read back where its marker was."""
    pending: list[str] = []
    size = 0
    for piece in _pieces(value, store):
        pending.append(piece)
        size += len(piece)
        if size >= _CHUNK_CHARS:
            yield "".join(pending).encode("utf-8")
            pending, size = [], 0
    if pending:
        yield "".join(pending).encode("utf-8")


def _pieces(value: Any, store: BlobStore) -> Iterator[str]:
    if is_pages_ref(value):
        yield from _stored_list(cast("dict[str, Any]", value), store)
    elif is_content_ref(value):
        # The stored document is the content's own compact JSON: sent as it is.
        yield store.get(ref_uri(cast("dict[str, Any]", value))).decode("utf-8")
    elif isinstance(value, dict):
        yield "{"
        for number, (key, item) in enumerate(cast("dict[str, Any]", value).items()):
            yield f"{',' if number else ''}{_dumps(key)}:"
            yield from _pieces(item, store)
        yield "}"
    elif isinstance(value, list | tuple):
        yield "["
        for number, item in enumerate(cast("list[Any]", value)):
            if number:
                yield ","
            yield from _pieces(item, store)
        yield "]"
    else:
        yield _dumps(value)


def _stored_list(marker: dict[str, Any], store: BlobStore) -> Iterator[str]:
    yield '{"items":['
    first = True
    for page in read_manifest(store, ref_uri(marker)).pages:
        for item in read_page(store, page.uri):
            yield ("" if first else ",") + _dumps(item)
            first = False
    yield "]}"


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
