"""The callback delivery log (http-api.md §10.4, §10.6): one stored record per attempt, written by the
delivery activity before it returns, since Temporal's history keeps only an activity's last attempt.

Keys: `<tenant prefix>/runs/<run id>/deliveries/<webhook-id>/attempt-<n>.json`.
"""

from __future__ import annotations

import json
from typing import Any

from shared.storage.blob_store import BlobStore
from shared.storage.run_storage import put_json, run_key


def attempt_key(storage_prefix: str, run_id: str, webhook_id: str, attempt: int) -> str:
    return run_key(storage_prefix, run_id, f"deliveries/{webhook_id}/attempt-{attempt:05d}.json")


def put_attempt(
    store: BlobStore, storage_prefix: str, run_id: str, webhook_id: str, record: dict[str, Any]
) -> str:
    return put_json(store, attempt_key(storage_prefix, run_id, webhook_id, int(record["attempt"])), record)


def attempts_of(store: BlobStore, storage_prefix: str, run_id: str, webhook_id: str) -> list[dict[str, Any]]:
    """Every recorded attempt of one delivery, in attempt order."""
    folder = run_key(storage_prefix, run_id, f"deliveries/{webhook_id}/")
    records: list[dict[str, Any]] = [json.loads(store.get(uri)) for uri in sorted(store.list(folder))]
    return records
