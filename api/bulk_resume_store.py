"""Where a bulk resume job lives (`api/bulk_resume.py` runs it): the blob store, under the tenant's prefix.
Blocking functions: call them off the event loop.

- `<tenant>/resume-jobs/<job id>/manifest.json`: the caller, the request, the matched run ids (written once);
- `<tenant>/resume-jobs/<job id>/runs/<run id>.json`: each run's outcome, written when it is reached;
- `<tenant>/resume-jobs/<job id>/done.json`: the job's end.
Plus one pointer per unfinished job, `resume-jobs-open/<tenant>/<job id>.json`, outside every tenant:
the start-up finds open jobs there without walking every tenant's storage; it goes when the job ends.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from api.auth import AuthMode, Caller
from api.problems import ProblemError
from shared.problems.catalogue import ProblemCode
from shared.runs.timestamps import rfc3339
from shared.runtime.json_values import as_mapping
from shared.storage.blob_store import STORAGE_SCHEME, BlobNotFoundError, BlobStore

OPEN_JOBS = "resume-jobs-open"
_JOBS = "resume-jobs"


@dataclass(frozen=True, slots=True)
class JobManifest:
    """What a job is, written once when it is accepted."""

    job_id: str
    identity: str
    mode: str
    created_at: str
    # Where the caller reached the service, and its request id: what the resumed runs' starts record.
    origin: str
    request_id: str
    # The members every resume is sent (`ResumeRequestBody`), without `pipeline_run_id`.
    resume: dict[str, Any]
    run_ids: list[str]
    # SHA-256 of the request (`api.bulk_resume_idempotency.request_digest`): a repeat under the same
    # `Idempotency-Key` is this job only with the same digest. Empty in a job written before keys.
    request_digest: str = ""

    @property
    def caller(self) -> Caller:
        return Caller(self.identity, AuthMode(self.mode))


def job_key(storage_prefix: str, job_id: str, name: str) -> str:
    return f"{storage_prefix}/{_JOBS}/{job_id}/{name}"


def open_key(storage_prefix: str, job_id: str) -> str:
    return f"{OPEN_JOBS}/{storage_prefix}/{job_id}.json"


def _put(store: BlobStore, key: str, value: Mapping[str, Any]) -> None:
    store.put(key, json.dumps(value).encode("utf-8"), "application/json")


def _get(store: BlobStore, key: str) -> dict[str, Any] | None:
    try:
        found = as_mapping(json.loads(store.get(f"{STORAGE_SCHEME}{key}")))
    except (BlobNotFoundError, ValueError):
        return None
    return dict(found) if found is not None else None


def write_manifest(store: BlobStore, storage_prefix: str, manifest: JobManifest) -> None:
    """Write a new job: its open pointer, or its end when it matched nothing, then its manifest.

    The manifest last: a job is visible once whole, and a crash before it leaves at most a pointer that
    the next start-up removes.
    """
    if manifest.run_ids:
        _put(store, open_key(storage_prefix, manifest.job_id), {"job_id": manifest.job_id})
    else:
        done = {"finished_at": manifest.created_at}
        _put(store, job_key(storage_prefix, manifest.job_id, "done.json"), done)
    _put(store, job_key(storage_prefix, manifest.job_id, "manifest.json"), asdict(manifest))


def read_manifest(store: BlobStore, storage_prefix: str, job_id: str) -> JobManifest | None:
    found = _get(store, job_key(storage_prefix, job_id, "manifest.json"))
    return JobManifest(**found) if found is not None else None


def is_finished(store: BlobStore, storage_prefix: str, job_id: str) -> bool:
    return store.exists(job_key(storage_prefix, job_id, "done.json"))


def write_outcome(store: BlobStore, storage_prefix: str, job_id: str, outcome: Mapping[str, Any]) -> None:
    """Record one run's outcome (`outcome["run_id"]`), once the job has reached it."""
    _put(store, job_key(storage_prefix, job_id, f"runs/{outcome['run_id']}.json"), outcome)


def run_outcomes(store: BlobStore, storage_prefix: str, job_id: str) -> dict[str, dict[str, Any]]:
    """The outcome of every run the job has reached, by run id."""
    outcomes: dict[str, dict[str, Any]] = {}
    for uri in store.list(job_key(storage_prefix, job_id, "runs")):
        found = _get(store, uri.removeprefix(STORAGE_SCHEME))
        if found is not None and isinstance(found.get("run_id"), str):
            outcomes[found["run_id"]] = found
    return outcomes


def finish(store: BlobStore, storage_prefix: str, job_id: str) -> None:
    """Mark the job ended; its open pointer goes after, so a crash between leaves it findable."""
    _put(store, job_key(storage_prefix, job_id, "done.json"), {"finished_at": rfc3339(datetime.now(UTC))})
    store.delete_prefix(open_key(storage_prefix, job_id))


def job_status(store: BlobStore, caller: Caller, job_id: str) -> dict[str, Any]:
    """`GET /v1/runs/resume/{job_id}`'s body; 404 `job.not_found` unless it is the caller's job."""
    manifest = read_manifest(store, caller.storage_prefix, job_id) if is_job_id(job_id) else None
    if manifest is None or manifest.caller.tenant_key != caller.tenant_key:
        raise ProblemError(
            ProblemCode.JOB_NOT_FOUND, f"No bulk resume job '{job_id[:64]}' is visible to this caller."
        )
    outcomes = run_outcomes(store, caller.storage_prefix, job_id)
    done = _get(store, job_key(caller.storage_prefix, job_id, "done.json"))
    runs = [outcomes[run_id] for run_id in manifest.run_ids if run_id in outcomes]
    counts = {
        name: sum(1 for run in runs if run["outcome"] == name) for name in ("resumed", "skipped", "failed")
    }
    return {
        "job_id": job_id,
        "state": "DONE" if done is not None else "RUNNING",
        "matched": len(manifest.run_ids),
        **counts,
        "runs": runs,
        "created_at": manifest.created_at,
        "finished_at": done.get("finished_at") if done is not None else None,
    }


def is_job_id(value: str) -> bool:
    return len(value) == 32 and all(char in "0123456789abcdef" for char in value)


def unfinished_jobs(store: BlobStore) -> list[tuple[str, str]]:
    """(storage prefix, job id) of every job left unfinished."""
    found: list[tuple[str, str]] = []
    for uri in store.list(OPEN_JOBS):
        prefix, _, name = uri.removeprefix(f"{STORAGE_SCHEME}{OPEN_JOBS}/").rpartition("/")
        job_id = name.removesuffix(".json")
        if prefix and is_job_id(job_id):
            found.append((prefix, job_id))
    return found
