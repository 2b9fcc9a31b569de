"""The callback delivery log (http-api.md §10.4, §10.6): one stored record per attempt, written by the
delivery activity before it returns, since Temporal's history keeps only an activity's last attempt;
and the latest redelivery of the URL, written by the API when it starts one.

Keys: `<tenant prefix>/runs/<run id>/deliveries/<webhook-id>/attempt-<n>.json` and `.../redelivery.json`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from shared.storage.blob_store import BlobStore
from shared.storage.run_storage import put_json, run_key

_ATTEMPT_PREFIX = "attempt-"
_REDELIVERY = "redelivery.json"


@dataclass(frozen=True, slots=True)
class Redelivery:
    """The latest redelivery of a URL: the workflow sending it, from which attempt number on."""

    workflow_id: str
    first_attempt: int
    requested_at: str


@dataclass(frozen=True, slots=True)
class DeliveryLog:
    attempts: list[dict[str, Any]]  # in attempt order
    redelivery: Redelivery | None


def attempt_key(storage_prefix: str, run_id: str, webhook_id: str, attempt: int) -> str:
    return run_key(storage_prefix, run_id, f"deliveries/{webhook_id}/{_ATTEMPT_PREFIX}{attempt:05d}.json")


def put_attempt(
    store: BlobStore, storage_prefix: str, run_id: str, webhook_id: str, record: dict[str, Any]
) -> str:
    return put_json(store, attempt_key(storage_prefix, run_id, webhook_id, int(record["attempt"])), record)


def put_redelivery(
    store: BlobStore, storage_prefix: str, run_id: str, webhook_id: str, redelivery: Redelivery
) -> str:
    value = {
        "workflow_id": redelivery.workflow_id,
        "first_attempt": redelivery.first_attempt,
        "requested_at": redelivery.requested_at,
    }
    return put_json(store, run_key(storage_prefix, run_id, f"deliveries/{webhook_id}/{_REDELIVERY}"), value)


def delivery_log(store: BlobStore, storage_prefix: str, run_id: str, webhook_id: str) -> DeliveryLog:
    """Every recorded attempt of one delivery, in attempt order, and its latest redelivery if any."""
    folder = run_key(storage_prefix, run_id, f"deliveries/{webhook_id}/")
    attempts: list[dict[str, Any]] = []
    redelivery: Redelivery | None = None
    for uri in sorted(store.list(folder)):
        name = uri.rpartition("/")[2]
        if name.startswith(_ATTEMPT_PREFIX):
            attempts.append(json.loads(store.get(uri)))
        elif name == _REDELIVERY:
            value: dict[str, Any] = json.loads(store.get(uri))
            redelivery = Redelivery(
                workflow_id=str(value["workflow_id"]),
                first_attempt=int(value["first_attempt"]),
                requested_at=str(value["requested_at"]),
            )
    return DeliveryLog(attempts, redelivery)
