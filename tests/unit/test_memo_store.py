"""The memo in the blob store: which entries a scope may take, retention, tenants apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from shared.runs.workflow_io import MemoScope, OperatorAnswer
from shared.storage.blob_store import LocalBlobStore
from shared.storage.memo_store import (
    ChunkMemoEntry,
    MemoEntry,
    find_chunk_entry,
    find_entry,
    purge_expired,
    put_entry,
)

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _entry(run_id: str, text: str, age_days: float = 0) -> MemoEntry:
    created = (NOW - timedelta(days=age_days)).isoformat().replace("+00:00", "Z")
    return MemoEntry(
        run_id=run_id, pipe_ref="d.p", created_at=created, answer=OperatorAnswer(content={"text": text})
    )


def test_a_resumed_run_takes_its_nearest_ancestors_entry_and_no_unrelated_one(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    put_entry(store, "acme", "k1", _entry("r0", "from r0"))
    put_entry(store, "acme", "k1", _entry("r1", "from r1"))
    put_entry(store, "acme", "k1", _entry("other", "from other"))
    found = find_entry(store, "acme", "k1", MemoScope(reuse_runs=["r1", "r0"]), now=NOW)
    assert found is not None
    assert found.run_id == "r1"
    found = find_entry(store, "acme", "k1", MemoScope(reuse_runs=["r0"]), now=NOW)
    assert found is not None
    assert found.run_id == "r0"
    assert find_entry(store, "acme", "k1", MemoScope(reuse_runs=["r9"]), now=NOW) is None
    assert find_entry(store, "acme", "k2", MemoScope(reuse_runs=["r0"]), now=NOW) is None


def test_tenant_reuse_takes_the_newest_entry_of_the_tenant_only(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    put_entry(store, "acme", "k1", _entry("old", "old", age_days=2))
    put_entry(store, "acme", "k1", _entry("new", "new", age_days=1))
    put_entry(store, "globex", "k2", _entry("theirs", "theirs"))
    found = find_entry(store, "acme", "k1", MemoScope(reuse_tenant=True), now=NOW)
    assert found is not None
    assert found.run_id == "new"
    assert find_entry(store, "acme", "k2", MemoScope(reuse_tenant=True), now=NOW) is None
    assert find_entry(store, "acme", "k1", MemoScope(), now=NOW) is None


def test_entries_past_retention_are_never_taken_and_purge_removes_them(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    put_entry(store, "acme", "k1", _entry("r0", "stale", age_days=31))
    put_entry(store, "acme", "k2", _entry("r0", "fresh", age_days=1))
    scope = MemoScope(reuse_runs=["r0"], retention_days=30)
    assert find_entry(store, "acme", "k1", scope, now=NOW) is None
    assert find_entry(store, "acme", "k2", scope, now=NOW) is not None
    put_entry(store, "globex", "k1", _entry("r5", "stale", age_days=40))
    assert purge_expired(store, 30, storage_prefix="acme", now=NOW) == 1
    assert store.list("memo/acme/k1/") == []
    assert len(store.list("memo/acme/k2/")) == 1
    assert len(store.list("memo/globex/k1/")) == 1
    assert purge_expired(store, 30, now=NOW) == 1
    assert store.list("memo/globex/k1/") == []


def test_an_unreadable_entry_is_not_reused(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    store.put("memo/acme/k1/r0.json", b"{not json", "application/json")
    assert find_entry(store, "acme", "k1", MemoScope(reuse_runs=["r0"]), now=NOW) is None


def test_chunk_entries_are_found_kept_and_purged_like_invocation_entries(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)

    def chunk(run_id: str, age_days: float) -> ChunkMemoEntry:
        created = (NOW - timedelta(days=age_days)).isoformat().replace("+00:00", "Z")
        return ChunkMemoEntry(
            run_id=run_id, created_at=created, result_uri="u", invocations=200, cost_usd=0.5
        )

    put_entry(store, "acme", "chunk-a", chunk("r0", age_days=1))
    put_entry(store, "acme", "chunk-b", chunk("r0", age_days=31))
    scope = MemoScope(reuse_runs=["r0"], retention_days=30)
    found = find_chunk_entry(store, "acme", "chunk-a", scope, now=NOW)
    assert found is not None
    assert (found.invocations, found.cost_usd) == (200, 0.5)
    assert find_chunk_entry(store, "acme", "chunk-b", scope, now=NOW) is None  # past retention
    assert find_entry(store, "acme", "chunk-a", scope, now=NOW) is None  # not an invocation's entry
    assert find_chunk_entry(store, "acme", "chunk-a", MemoScope(reuse_runs=["r9"]), now=NOW) is None
    # A fresh chunk entry is kept (purge reads only when an entry was written), a stale one goes.
    assert purge_expired(store, 30, storage_prefix="acme", now=NOW) == 1
    assert len(store.list("memo/acme/chunk-a/")) == 1
