"""Stuff contents moved to the blob store and read back (`shared/runtime/content_refs.py` names the
markers): what activities and the API do so that workflow code only ever moves small markers.
"""

from __future__ import annotations

import json
from typing import Any, cast

from shared.runtime.content_refs import content_ref, is_content_ref, is_pages_ref, pages_ref, ref_uri
from shared.runtime.working_memory import WorkingMemory
from shared.storage.blob_store import BlobStore
from shared.storage.item_pages import (
    cut_pages,
    encode,
    iter_items,
    read_manifest,
    write_manifest,
    write_pages,
)

# Items per stored page of a list content (readers fetch only the pages a slice spans).
PAGE_ITEMS = 100


def json_size(content: Any) -> int:
    return len(encode(content))


def store_content(store: BlobStore, key: str, content: Any, *, is_list: bool) -> dict[str, Any]:
    """Store `content` under `key` and return its marker: a list's items in pages, else one document."""
    if is_list:
        items = cast("list[Any]", cast("dict[str, Any]", content).get("items") or [])
        pages = write_pages(store, f"{key}/pages", cut_pages(items, PAGE_ITEMS))
        return pages_ref(write_manifest(store, f"{key}/manifest.json", pages), len(items))
    data = encode(content)
    uri = store.put(f"{key}.json", data, "application/json")
    return content_ref(uri, len(data))


def resolve_content(store: BlobStore, content: Any) -> Any:
    """`content` itself, or the content a marker names, read from the store (a list in full)."""
    if is_pages_ref(content):
        return {"items": list(iter_items(store, read_manifest(store, ref_uri(content))))}
    if is_content_ref(content):
        return json.loads(store.get(ref_uri(content)))
    return content


def store_large_inputs(
    inputs: dict[str, Any], memory: WorkingMemory, store: BlobStore, *, key_prefix: str, max_bytes: int
) -> dict[str, Any]:
    """`inputs` with each input whose checked content is over `max_bytes` stored and replaced by its
    marker (with its concept), so the run's workflow input stays small: a 100,000-item list or a 20 MB
    text is accepted as long as the request body is within its limit."""
    kept = dict(inputs)
    for name, stuff in memory.root.items():
        if name in inputs and json_size(stuff.content) > max_bytes:
            marker = store_content(store, f"{key_prefix}/{name}", stuff.content, is_list=stuff.is_list)
            kept[name] = {"concept": stuff.concept, "content": marker}
    return kept
