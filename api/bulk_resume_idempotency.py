"""`Idempotency-Key` on `POST /v1/runs/resume`: the job id a key names, and the digest of a request that
tells a repeat (the same job) from a conflict (409). Pure."""

from __future__ import annotations

import hashlib
import json

from api.auth import Caller
from api.bulk_resume_filter import BulkResumeRequestBody
from api.run_request import run_id_from_key

# The members of a job id (`api.bulk_resume_store.is_job_id`): 32 lowercase hex characters.
_JOB_ID_CHARS = 32


def keyed_job_id(caller: Caller, idempotency_key: str) -> str:
    """The job an `Idempotency-Key` names for this caller's tenant: the same key, the same job; another
    tenant's same key, another job. 422 `request.invalid` naming `Idempotency-Key` as `/v1/start` does
    for a key that is not 1 to 255 visible ASCII characters."""
    run_id_from_key(idempotency_key)  # `/v1/start`'s own check of a key; the run id it maps to is not ours
    named = f"{caller.tenant_key}\n{idempotency_key}".encode()
    return hashlib.sha256(named).hexdigest()[:_JOB_ID_CHARS]


def request_digest(body: BulkResumeRequestBody) -> str:
    """SHA-256 hex of the request as read (members left out or null alike; key order and spacing ignored)."""
    canonical = json.dumps(
        body.model_dump(mode="json", exclude_none=True), sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
