"""Lists stored in pages (`shared/runtime/content_refs.py` is the marker that names them).

Writers cut a list into pages of at most `page_items` items (and, for large items, at most
`page_max_bytes` bytes) and write a manifest naming the pages in order; readers fetch only the pages a
range of items touches, so no one holds a 100,000-item list to read a slice of it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

from shared.storage.blob_store import BlobStore

# A page stays well under what one activity payload may carry (Temporal refuses 2 MB).
PAGE_MAX_BYTES = 1_000_000


@dataclass(frozen=True, slots=True)
class PageEntry:
    uri: str
    count: int


@dataclass(frozen=True, slots=True)
class Manifest:
    """The pages of one stored list, in item order."""

    count: int
    pages: tuple[PageEntry, ...]

    def wire(self) -> dict[str, Any]:
        return {"count": self.count, "pages": [{"uri": page.uri, "count": page.count} for page in self.pages]}

    @staticmethod
    def parse(raw: Any) -> Manifest:
        fields = cast("dict[str, Any]", raw)
        pages = tuple(
            PageEntry(str(page["uri"]), int(page["count"])) for page in cast("list[Any]", fields["pages"])
        )
        return Manifest(int(fields["count"]), pages)


def encode(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def cut_pages(
    items: Iterable[Any], page_items: int, page_max_bytes: int = PAGE_MAX_BYTES
) -> Iterator[list[Any]]:
    """`items` in pages of at most `page_items` items and about `page_max_bytes` (a page holds at least one)."""
    page: list[Any] = []
    size = 0
    for item in items:
        item_size = len(encode(item))
        if page and (len(page) >= page_items or size + item_size > page_max_bytes):
            yield page
            page, size = [], 0
        page.append(item)
        size += item_size
    if page:
        yield page


def write_pages(
    store: BlobStore, key_prefix: str, pages: Iterable[Sequence[Any]], *, first_page: int = 0
) -> list[PageEntry]:
    """Write each page under `<key_prefix>/<n>.json` (n counting from `first_page`)."""
    entries: list[PageEntry] = []
    for number, page in enumerate(pages, start=first_page):
        uri = store.put(f"{key_prefix}/{number:06d}.json", encode(list(page)), "application/json")
        entries.append(PageEntry(uri, len(page)))
    return entries


def write_manifest(store: BlobStore, key: str, pages: Sequence[PageEntry]) -> str:
    manifest = Manifest(sum(page.count for page in pages), tuple(pages))
    return store.put(key, encode(manifest.wire()), "application/json")


def read_manifest(store: BlobStore, uri: str) -> Manifest:
    return Manifest.parse(json.loads(store.get(uri)))


def read_page(store: BlobStore, uri: str) -> list[Any]:
    return cast("list[Any]", json.loads(store.get(uri)))


def read_range(store: BlobStore, manifest: Manifest, start: int, count: int) -> list[Any]:
    """Items `start` to `start + count` (fewer at the end of the list), reading only the pages they span."""
    wanted: list[Any] = []
    first = 0
    stop = start + count
    for page in manifest.pages:
        last = first + page.count
        if last > start and first < stop:
            items = read_page(store, page.uri)
            wanted.extend(items[max(start - first, 0) : min(stop - first, page.count)])
        if last >= stop:
            break
        first = last
    return wanted


def iter_items(store: BlobStore, manifest: Manifest) -> Iterator[Any]:
    """Every item in order, one page in memory at a time."""
    for page in manifest.pages:
        yield from read_page(store, page.uri)
