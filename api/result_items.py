"""A page of a run's list output (`GET /v1/runs/{id}/results/items`): the items from `offset`, at most
`limit`, with the list's total, so a client reads a 100,000-item output a page at a time.

The page is cut from the run's final working memory (inline in the run's end, or stored when large); a
list a batch workflow stored in pages is read page by page, never whole.
"""

from __future__ import annotations

from typing import Any

from api.problems import request_invalid
from shared.runtime.content_refs import is_pages_ref, ref_uri
from shared.runtime.json_values import as_list, as_mapping
from shared.storage.blob_store import BlobStore
from shared.storage.item_pages import read_manifest, read_range

MAX_PAGE_ITEMS = 1000


def items_page(
    memory: dict[str, Any],
    main_name: str | None,
    store: BlobStore,
    *,
    name: str | None,
    offset: int,
    limit: int,
) -> dict[str, Any]:
    """The page of the list stuff `name` (the main stuff when None); 422 naming what does not fit.

    A list a batch workflow stored in pages is read a page at a time: only the pages the slice spans.
    """
    root = as_mapping(memory.get("root")) or {}
    wanted = name or main_name
    stuff = as_mapping(root.get(wanted)) if wanted else None
    field = "name" if name is not None else "pipeline_run_id"
    if stuff is None:
        raise request_invalid(field=field, reason=f"the run has no output named '{wanted}'.")
    content = as_mapping(stuff.get("content"))
    if is_pages_ref(content):
        manifest = read_manifest(store, ref_uri(dict(content or {})))
        page = read_range(store, manifest, offset, limit)
        return _page(wanted, stuff.get("concept"), manifest.count, offset, limit, page)
    items = as_list(content.get("items")) if content is not None else None
    if items is None:
        concept = stuff.get("concept", "value")
        raise request_invalid(
            field=field,
            reason=f"the output '{wanted}' is a single {concept}, not a list: read it at /results.",
        )
    return _page(wanted, stuff.get("concept"), len(items), offset, limit, items[offset : offset + limit])


def _page(
    name: str | None, concept: Any, total: int, offset: int, limit: int, page: list[Any]
) -> dict[str, Any]:
    following = offset + len(page)
    return {
        "name": name,
        "concept": concept,
        "total": total,
        "offset": offset,
        "limit": limit,
        "items": page,
        "next_offset": following if following < total else None,
    }
