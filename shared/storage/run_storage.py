"""Where a run's durable files live in the blob store: method sources by digest, outputs by run.

Keys: `methods/<sha256>.json` (content-addressed, shared by every run of the same bundles), the method
trees requests sent as `files` at `methods/trees/<sha256>.json` (content-addressed too), and
`<tenant prefix>/runs/<run id>/...` (http-api.md §14, `STORAGE`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from shared.language.report import BundleSource
from shared.storage.blob_store import STORAGE_SCHEME, BlobStore


def method_digest(bundles: Sequence[BundleSource]) -> str:
    """SHA-256 of the bundles' paths and texts, in order: the name activities find the method by."""
    canonical = json.dumps([[bundle.path, bundle.text] for bundle in bundles], separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def put_method(store: BlobStore, bundles: Sequence[BundleSource]) -> str:
    """Store the bundles once under their digest; return the digest.

    The key names the content, so a method already stored is not written again (every start of the
    same bundles would otherwise rewrite it).
    """
    digest = method_digest(bundles)
    key = f"methods/{digest}.json"
    if not store.exists(key):
        payload = json.dumps([{"path": bundle.path, "text": bundle.text} for bundle in bundles])
        store.put(key, payload.encode("utf-8"), "application/json")
    return digest


def get_method(store: BlobStore, digest: str) -> list[BundleSource]:
    """The bundles stored under `digest`; raises `BlobNotFoundError`."""
    raw: list[dict[str, str]] = json.loads(store.get(f"{STORAGE_SCHEME}methods/{digest}.json"))
    return [BundleSource(path=item["path"], text=item["text"]) for item in raw]


def put_method_tree(store: BlobStore, files: Mapping[str, Any]) -> str:
    """Store a request's `files` map once, as sent; return the SHA-256 of its stored JSON.

    The workflow input then carries the digest instead of the tree, whose bundles it already holds:
    the method travels once. The key names the content, so the loser of a race for a run id can
    never overwrite the winner's tree.
    """
    data = json.dumps(files, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    digest = hashlib.sha256(data).hexdigest()
    key = f"methods/trees/{digest}.json"
    if not store.exists(key):
        store.put(key, data, "application/json")
    return digest


def get_method_tree(store: BlobStore, digest: str) -> dict[str, Any]:
    """The `files` map stored under `digest`, in the order it was sent; raises `BlobNotFoundError`."""
    tree: dict[str, Any] = json.loads(store.get(f"{STORAGE_SCHEME}methods/trees/{digest}.json"))
    return tree


def run_key(storage_prefix: str, run_id: str, name: str) -> str:
    return f"{storage_prefix}/runs/{run_id}/{name}"


def put_json(store: BlobStore, key: str, value: Any) -> str:
    return store.put(key, json.dumps(value, ensure_ascii=False).encode("utf-8"), "application/json")


def get_json(store: BlobStore, uri: str) -> Any:
    return json.loads(store.get(uri))
