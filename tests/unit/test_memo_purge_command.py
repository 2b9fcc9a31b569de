"""`methodflow memo purge`: the entries past retention go, every tenant's; the fresh ones stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shared.runs.workflow_io import OperatorAnswer
from shared.storage.blob_store import LocalBlobStore, local_storage_root
from shared.storage.memo_store import MemoEntry, put_entry
from worker.cli import app

runner = CliRunner()


def _entry(run_id: str, age_days: float) -> MemoEntry:
    created = (datetime.now(UTC) - timedelta(days=age_days)).isoformat().replace("+00:00", "Z")
    return MemoEntry(run_id=run_id, pipe_ref="d.p", created_at=created, answer=OperatorAnswer(content={}))


def test_purge_removes_what_is_past_retention_and_keeps_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.delenv("STORAGE", raising=False)
    store = LocalBlobStore(local_storage_root(None, tmp_path))
    put_entry(store, "acme", "k1", _entry("old", 40))
    put_entry(store, "globex", "k2", _entry("old", 31))
    put_entry(store, "acme", "k3", _entry("new", 1))

    purged = runner.invoke(app, ["memo", "purge"])  # MEMO_RETENTION_DAYS: 30 by default
    assert purged.exit_code == 0, purged.output
    assert purged.output == "removed 2 memo entries older than 30 days\n"
    assert [uri.rsplit("/", 2)[-2] for uri in store.list("memo/")] == ["k3"]

    assert runner.invoke(app, ["memo", "purge", "--retention-days", "0.5"]).output.startswith("removed 1 ")
    refused = runner.invoke(app, ["memo", "purge", "--retention-days", "0"])
    assert refused.exit_code == 2
