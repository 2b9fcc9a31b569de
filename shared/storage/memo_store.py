"""The memo of completed operator invocations, in the blob store (never in workflow payloads).

One entry per invocation a run completed: `memo/<tenant prefix>/<key>/<run id>.json`, where the key is
the invocation's content address (`shared/runs/memo_keys.py`); a batch chunk whose every item
completed has one more entry, under a `chunk-` key (`shared/runs/chunk_memo_keys.py`,
`ChunkMemoEntry`). Keeping the run id in the path lets two runs that made the same call both keep
their entry, so a resume finds its own lineage's entry whatever unrelated runs wrote since. Entries live under the tenant's own storage prefix: a lookup never sees
another tenant's entries. The whole memo sits under one top-level `memo/` folder so that an S3 bucket
can expire it with one lifecycle rule (docs/runs.md); `purge_expired` does it for any store.

Which entries a run may take is its `MemoScope`: those of the runs it resumes (nearest first) and, when
the request asked `"reuse": "tenant"`, those of any run of the tenant. Entries older than the scope's
retention are never taken (and are removed by `purge_expired`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from shared.runs.workflow_io import MemoScope, OperatorAnswer
from shared.storage.blob_store import STORAGE_SCHEME, BlobNotFoundError, BlobStore

MEMO_FOLDER = "memo"


class _Dated(BaseModel):
    """What every entry holds: the run that wrote it and when (retention and purge read only this)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    run_id: str
    created_at: str


E = TypeVar("E", bound=_Dated)


class MemoEntry(_Dated):
    """What one completed invocation answered, and which run answered it when."""

    pipe_ref: str
    answer: OperatorAnswer


class ChunkMemoEntry(_Dated):
    """A batch chunk whose every item completed (`shared/runs/chunk_memo_keys.py`): its result file in the
    run that completed it (which names its output parts), its operator invocations and their cost."""

    result_uri: str
    invocations: int
    cost_usd: float | None = None


def memo_prefix(storage_prefix: str) -> str:
    return f"{MEMO_FOLDER}/{storage_prefix}/"


def entry_key(storage_prefix: str, key: str, run_id: str) -> str:
    return f"{memo_prefix(storage_prefix)}{key}/{run_id}.json"


def put_entry(store: BlobStore, storage_prefix: str, key: str, entry: _Dated) -> None:
    """Write `entry` (an invocation's or a chunk's) under `key`, beside other runs' entries."""
    store.put(
        entry_key(storage_prefix, key, entry.run_id),
        entry.model_dump_json().encode("utf-8"),
        "application/json",
    )


def find_entry(
    store: BlobStore, storage_prefix: str, key: str, scope: MemoScope, *, now: datetime | None = None
) -> MemoEntry | None:
    """The entry `scope` may reuse for `key`: its lineage's nearest first, then (when allowed) the
    tenant's newest; None when there is none within retention."""
    return _find(store, storage_prefix, key, scope, MemoEntry, now)


def find_chunk_entry(
    store: BlobStore, storage_prefix: str, key: str, scope: MemoScope, *, now: datetime | None = None
) -> ChunkMemoEntry | None:
    """`find_entry` for a chunk's key."""
    return _find(store, storage_prefix, key, scope, ChunkMemoEntry, now)


def _find(
    store: BlobStore, storage_prefix: str, key: str, scope: MemoScope, model: type[E], now: datetime | None
) -> E | None:
    oldest = (now or datetime.now(UTC)) - timedelta(days=scope.retention_days)
    for run_id in scope.reuse_runs:
        entry = _read(store, f"{STORAGE_SCHEME}{entry_key(storage_prefix, key, run_id)}", model)
        if entry is not None and _created(entry) >= oldest:
            return entry
    if not scope.reuse_tenant:
        return None
    candidates = [_read(store, uri, model) for uri in store.list(f"{memo_prefix(storage_prefix)}{key}/")]
    valid = [entry for entry in candidates if entry is not None and _created(entry) >= oldest]
    return max(valid, key=_created, default=None)


def purge_expired(
    store: BlobStore, retention_days: float, *, storage_prefix: str | None = None, now: datetime | None = None
) -> int:
    """Remove the entries older than `retention_days` (one tenant's, else every tenant's); how many went."""
    oldest = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    removed = 0
    prefix = memo_prefix(storage_prefix) if storage_prefix is not None else f"{MEMO_FOLDER}/"
    for uri in store.list(prefix):
        entry = _read(store, uri, _Dated)
        if entry is None or _created(entry) < oldest:
            removed += store.delete_prefix(uri.removeprefix(STORAGE_SCHEME))
    return removed


def _read(store: BlobStore, uri: str, model: type[E]) -> E | None:
    try:
        data: Any = json.loads(store.get(uri))
        return model.model_validate(data)
    except (BlobNotFoundError, ValueError, ValidationError):
        # Absent, or unreadable (a half-written copy on a store without atomic writes): not reusable.
        return None


def _created(entry: _Dated) -> datetime:
    try:
        instant = datetime.fromisoformat(entry.created_at.replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)
