"""Contents by reference: a stuff's content that lives in the blob store, named by a small marker. Pure.

A list too long to move through workflow code (the output of a large batch, a 100,000-item input) is
stored as *pages* of items plus a manifest, and its stuff's content is the marker
`{"$ref": <manifest URI>, "kind": "pages", "count": <items>}` instead of `{"items": [...]}`. Workflow
code moves a marker as it would any content; what must read the items (an activity, the results
route) resolves it from storage (`shared/storage/item_pages.py`).

A single content too large (a 50 MB extracted text) is stored as one JSON document and named by
`{"$ref": <URI>, "kind": "content", "size": <bytes>}`.

The manifest is `{"count": N, "pages": [{"uri": ..., "count": n}, ...]}`, pages in item order; a page
is a JSON array of item contents.
"""

from __future__ import annotations

from typing import Any, Final, cast

REF_KEY: Final = "$ref"
PAGES_KIND: Final = "pages"
CONTENT_KIND: Final = "content"


def pages_ref(manifest_uri: str, count: int) -> dict[str, Any]:
    """The content of a list stuff whose `count` items are stored in pages under `manifest_uri`."""
    return {REF_KEY: manifest_uri, "kind": PAGES_KIND, "count": count}


def content_ref(uri: str, size: int) -> dict[str, Any]:
    """The content of a single stuff whose JSON (`size` bytes) is stored at `uri`."""
    return {REF_KEY: uri, "kind": CONTENT_KIND, "size": size}


def is_pages_ref(content: Any) -> bool:
    """Whether `content` is the marker of a stored list (not its items)."""
    return _kind(content) == PAGES_KIND


def is_content_ref(content: Any) -> bool:
    """Whether `content` is the marker of a stored single content."""
    return _kind(content) == CONTENT_KIND


def is_stored(content: Any) -> bool:
    """Whether `content` is a marker of either kind: what workflow code may move but never read."""
    return _kind(content) in {PAGES_KIND, CONTENT_KIND}


def _kind(content: Any) -> str | None:
    if not isinstance(content, dict):
        return None
    fields = cast("dict[str, Any]", content)
    kind = fields.get("kind")
    return kind if isinstance(kind, str) and isinstance(fields.get(REF_KEY), str) else None


def ref_uri(content: dict[str, Any]) -> str:
    return str(content[REF_KEY])


def ref_count(content: dict[str, Any]) -> int:
    count = content.get("count")
    return count if isinstance(count, int) else 0


def holds_marker(value: Any) -> bool:
    """Whether `value` (caller inputs) holds anything shaped as a marker, at any depth: only the service
    writes markers, so a caller's could point at storage that is not theirs."""
    if is_stored(value):
        return True
    if isinstance(value, dict):
        return any(holds_marker(item) for item in cast("dict[str, Any]", value).values())
    if isinstance(value, list):
        return any(holds_marker(item) for item in cast("list[Any]", value))
    return False
