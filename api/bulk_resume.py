"""Bulk resume after an incident (issue 19, `POST /v1/runs/resume`): a job resuming every run of the caller
that a filter matches, paced, durable across API restarts.

Why the job runs in the API process: each run is resumed through the API's own submission path
(`api.routes.run_resume.start_resume`: the checks of a resume, validation of a corrected method, the
tenant's run limit, idempotency by run id), the very code of `POST /v1/runs/{id}/resume`; the worker has
none of it (`api/` and `worker/` never import each other). So the job is an asyncio task of the API,
paced by `BULK_RESUME_RATE_PER_SECOND`, and at start-up (the app's lifespan) the API continues every
job left unfinished.

Durable in the blob store, under the tenant's prefix (`api/bulk_resume_store.py`: the manifest, each
run's outcome, the job's end, and a pointer per unfinished job that the start-up finds).

Deterministic ids: the run resuming `<id>` in job `<job>` is `<id>-r-<job>` (a digest stands for an id
too long for that), so a job continued after a restart meets the runs it had started (the start is a
replay, as a repeated single resume is) and starts nothing twice. With several API replicas, each one
continues every open job at its start, so a job may run twice at once: harmless, since both submit the
same ids (the second start of each is a replay) and write the same outcome under the same key.
A job whose API process stopped is continued by the next API process to start, whichever replica.

Decisions:
- `filter` is required (`{}` means every failed or cancelled run of the caller): a bare POST never
  resumes everything. Its states default to FAILED and CANCELLED; a timed-out run is FAILED.
- A filter matching nothing answers 202 like any other, with `matched: 0` and a job already DONE, so a
  caller has one path to follow.
- A run is skipped when, once reached, it is gone (`run.not_found`), no longer FAILED or CANCELLED
  (`run.not_resumable`), or already resumed by another run (`run.not_resumable`, naming that run).
- A problem resuming one run (its method no longer takes the correction, ...) is recorded as that run's
  failure and the job goes on, as is an unexpected fault (`runtime.unexpected`, logged); a transient
  refusal (the tenant's run limit, Temporal or the storage unavailable) waits and tries the same run
  again. A job whose progress cannot be written stops, logged; the next start-up continues it.
- Pacing: at most `BULK_RESUME_RATE_PER_SECOND` runs are reached per second (skipped ones included).
- A filter matching more than `BULK_RESUME_MAX_RUNS` runs is refused (422 naming `filter`), nothing
  written: one job is one incident's runs, and its manifest holds every id.
- Without `Idempotency-Key` each POST is a new job (a random id); with one, the job id is a digest of
  the caller's tenant and the key (`api/bulk_resume_idempotency.py`), so a repeat finds the job and
  answers it (409 `request.idempotency_conflict` when its request differs), as `/v1/start` does a run.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from api.auth import Caller
from api.bulk_resume_filter import (
    BulkResumeRequestBody,
    RunFilter,
    check_correction,
    checked_filter,
    matching_runs,
)
from api.bulk_resume_idempotency import keyed_job_id, request_digest
from api.bulk_resume_store import (
    JobManifest,
    finish,
    is_finished,
    open_key,
    read_manifest,
    run_outcomes,
    unfinished_jobs,
    write_manifest,
    write_outcome,
)
from api.problems import ProblemError
from api.request_id import request_id_of
from api.routes.run_resume import start_resume
from api.run_records import read_run
from api.run_resume import RESUMABLE_STATES, ResumeRequestBody, resumed_by
from api.settings import ApiSettings
from api.temporal_gateway import TemporalGateway
from api.validation_cache import ValidationCache
from shared.problems.catalogue import ProblemCode
from shared.runs.timestamps import rfc3339
from shared.storage.blob_store import StorageUnavailableError

logger = logging.getLogger(__name__)

_MAX_RUN_ID = 128  # api.run_request.RUN_ID_PATTERN
# A transient refusal (tenant run limit, Temporal down) is tried again after its Retry-After, or this.
_RETRY_SECONDS = 2.0
_UNEXPECTED = "The service met an unexpected error resuming this run; it is logged with the job's id."
_TRANSIENT = frozenset({ProblemCode.TENANT_RUN_LIMIT_REACHED, ProblemCode.RUNTIME_UNAVAILABLE})

Outcome = Literal["resumed", "skipped", "failed"]


def resumed_run_id(original: str, job_id: str) -> str:
    """The id of the run resuming `original` in job `job_id`: the same in every attempt of the job."""
    run_id = f"{original}-r-{job_id}"
    if len(run_id) <= _MAX_RUN_ID:
        return run_id
    return f"{hashlib.sha256(original.encode('utf-8')).hexdigest()[:40]}-r-{job_id}"


def _job_request(manifest: JobManifest) -> Request:
    """A stand-in for the job's `POST` (gone once answered): its origin and request id, for the starts."""
    url = urlsplit(manifest.origin)
    scope: dict[str, Any] = {
        "type": "http",
        "method": "POST",
        "scheme": url.scheme or "http",
        "path": "/v1/runs/resume",
        "root_path": "",
        "query_string": b"",
        "server": (url.hostname or "localhost", url.port),
        "headers": [(b"host", url.netloc.encode("ascii", "replace"))],
        "state": {"request_id": manifest.request_id},
    }
    return Request(scope)


@dataclass(frozen=True, slots=True)
class AcceptedJob:
    """What `POST /v1/runs/resume` answers: the job, how many runs it matched, whether it has ended."""

    job_id: str
    matched: int
    finished: bool


class ResumeJobs:
    """The bulk resume jobs this API process runs, one asyncio task each (`app.state.resume_jobs`)."""

    def __init__(self, settings: ApiSettings, verdicts: ValidationCache, gateway: TemporalGateway) -> None:
        self._settings = settings
        self._verdicts = verdicts
        self._gateway = gateway
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # One accept at a time per keyed job: a lock lives while an accept holds or awaits it.
        self._accepting: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def accept(
        self, request: Request, caller: Caller, body: BulkResumeRequestBody, idempotency_key: str | None
    ) -> AcceptedJob:
        """Check the request, match the runs, write the job and start it; with an `Idempotency-Key`, the
        job that key already names when there is one (409 when it was asked by a different request)."""
        run_filter = checked_filter(body.filter, caller)
        digest = request_digest(body)
        if idempotency_key is None:
            return await self._accept_new(request, caller, body, run_filter, uuid.uuid4().hex, digest)
        job_id = keyed_job_id(caller, idempotency_key)
        # Two POSTs with the same key at once: in this process the second waits for the first and then
        # answers its job. On two replicas (the blob store has no write-if-absent) both may find no job,
        # match and write it, the last manifest written winning, and both run it: harmless, as for a job
        # continued by two replicas. The resumed run ids are `<id>-r-<job>` and the job id is the key's,
        # so both submit the same ids: the later start of each run is a replay of the earlier (the same
        # run, attached to), never a second run. Two different bodies racing so are not told apart here,
        # but still start no run twice: the later start of an id is then refused as a conflict.
        key = f"{caller.storage_prefix}/{job_id}"
        lock = self._accepting.get(key)
        if lock is None:
            lock = self._accepting[key] = asyncio.Lock()
        async with lock:
            store = self._settings.blob_store
            found = await run_in_threadpool(read_manifest, store, caller.storage_prefix, job_id)
            if found is None:
                return await self._accept_new(request, caller, body, run_filter, job_id, digest)
        if found.request_digest != digest:
            raise ProblemError(
                ProblemCode.REQUEST_IDEMPOTENCY_CONFLICT,
                "The Idempotency-Key already names a bulk resume job asked by a different request.",
                params={"job_id": job_id},
            )
        finished = await run_in_threadpool(is_finished, store, caller.storage_prefix, job_id)
        return AcceptedJob(job_id, matched=len(found.run_ids), finished=finished)

    async def _accept_new(
        self,
        request: Request,
        caller: Caller,
        body: BulkResumeRequestBody,
        run_filter: RunFilter,
        job_id: str,
        digest: str,
    ) -> AcceptedJob:
        await run_in_threadpool(check_correction, body, caller, self._settings, self._verdicts)
        # Over the cap this is a 422 and nothing is written: the job is never accepted.
        run_ids = await matching_runs(
            self._gateway, caller, run_filter, most=self._settings.bulk_resume_max_runs
        )
        resume = body.model_dump(exclude_none=True, exclude={"filter"})
        manifest = JobManifest(
            job_id=job_id,
            identity=caller.identity,
            mode=caller.mode.value,
            created_at=rfc3339(datetime.now(UTC)),
            origin=self._settings.public_base_url or str(request.base_url).rstrip("/"),
            request_id=request_id_of(request.scope),
            resume=resume,
            run_ids=run_ids,
            request_digest=digest,
        )
        await run_in_threadpool(write_manifest, self._settings.blob_store, caller.storage_prefix, manifest)
        if run_ids:
            self._start(manifest)
        return AcceptedJob(job_id, matched=len(run_ids), finished=not run_ids)

    async def continue_open(self) -> None:
        """Start again every job left unfinished (at the API's start-up)."""
        store = self._settings.blob_store
        try:
            open_jobs = await run_in_threadpool(unfinished_jobs, store)
        except StorageUnavailableError:  # the API serves without them; the next start-up continues them
            logger.exception("bulk resume jobs cannot be listed; they continue at the next start-up")
            return
        for prefix, job_id in open_jobs:
            manifest = await run_in_threadpool(read_manifest, store, prefix, job_id)
            if manifest is None:  # a crash before the manifest: no job was accepted
                await run_in_threadpool(store.delete_prefix, open_key(prefix, job_id))
                continue
            logger.info("bulk resume job %s continues (%d runs matched)", job_id, len(manifest.run_ids))
            self._start(manifest)

    async def close(self) -> None:
        """Stop every job at the API's shutdown; each one continues at the next start."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _start(self, manifest: JobManifest) -> None:
        key = f"{manifest.caller.storage_prefix}/{manifest.job_id}"
        if key in self._tasks:
            return
        task = asyncio.create_task(self._run(manifest), name=f"bulk-resume-{manifest.job_id}")
        self._tasks[key] = task
        task.add_done_callback(lambda _: self._tasks.pop(key, None))

    async def _run(self, manifest: JobManifest) -> None:
        store = self._settings.blob_store
        prefix = manifest.caller.storage_prefix
        try:
            reached = await run_in_threadpool(run_outcomes, store, prefix, manifest.job_id)
            interval = 1 / self._settings.bulk_resume_rate_per_second
            loop = asyncio.get_running_loop()
            next_start = loop.time()
            for run_id in manifest.run_ids:
                if run_id in reached:
                    continue
                await asyncio.sleep(max(0.0, next_start - loop.time()))
                outcome = await self._resume(manifest, run_id)
                next_start = loop.time() + interval
                await run_in_threadpool(write_outcome, store, prefix, manifest.job_id, outcome)
            await run_in_threadpool(finish, store, prefix, manifest.job_id)
            logger.info("bulk resume job %s is done", manifest.job_id)
        except asyncio.CancelledError:
            raise
        except Exception:  # the storage or a fault of ours: logged; the next start-up continues the job
            logger.exception("bulk resume job %s stopped; the next start-up continues it", manifest.job_id)

    async def _resume(self, manifest: JobManifest, run_id: str) -> dict[str, Any]:
        """Resume one run, waiting out transient refusals; its outcome as recorded."""
        while True:
            try:
                return await self._resume_once(manifest, run_id)
            except ProblemError as problem:
                if problem.code not in _TRANSIENT:
                    return _outcome(run_id, "failed", problem=problem)
                await asyncio.sleep(max(_RETRY_SECONDS, float(problem.retry_after or 0)))
            except StorageUnavailableError:  # a fault of the deployment, which may pass: the same run again
                logger.warning("bulk resume job %s waits for the storage", manifest.job_id)
                await asyncio.sleep(_RETRY_SECONDS)
            except Exception:  # a fault of ours: logged, recorded as this run's, and the job goes on
                logger.exception("bulk resume job %s could not resume run %s", manifest.job_id, run_id)
                return _outcome(run_id, "failed", code=ProblemCode.RUNTIME_UNEXPECTED, detail=_UNEXPECTED)

    async def _resume_once(self, manifest: JobManifest, run_id: str) -> dict[str, Any]:
        caller = manifest.caller
        new_id = resumed_run_id(run_id, manifest.job_id)
        client = await self._gateway.client()
        record = await read_run(client, run_id, caller=caller)
        if record is None:
            detail = f"The run '{run_id}' is no longer visible to this caller."
            return _outcome(run_id, "skipped", code=ProblemCode.RUN_NOT_FOUND, detail=detail)
        # This job's own run (started before a restart) is attached to, whatever else resumed the original.
        if await read_run(client, new_id, caller=caller) is None and record.state in RESUMABLE_STATES:
            others = await run_in_threadpool(
                resumed_by, self._settings.blob_store, caller.storage_prefix, record
            )
            if others:
                detail = f"The run '{run_id}' was already resumed by '{others[-1]}'."
                return _outcome(run_id, "skipped", code=ProblemCode.RUN_NOT_RESUMABLE, detail=detail)
        body = ResumeRequestBody.model_validate({**manifest.resume, "pipeline_run_id": new_id})
        try:
            submission = await start_resume(
                _job_request(manifest), record, body, caller, self._settings, self._verdicts, self._gateway
            )
        except ProblemError as problem:
            if problem.code is ProblemCode.RUN_NOT_RESUMABLE:
                return _outcome(run_id, "skipped", problem=problem)
            raise
        return {**_outcome(run_id, "resumed"), "resumed_run_id": submission.run_id}


def _outcome(
    run_id: str,
    outcome: Outcome,
    *,
    problem: ProblemError | None = None,
    code: ProblemCode | None = None,
    detail: str | None = None,
) -> dict[str, Any]:
    if problem is not None:
        code, detail = problem.code, problem.detail
    found: dict[str, Any] = {"run_id": run_id, "outcome": outcome}
    if code is not None:
        found["problem"] = {"code": code.value, "detail": detail or ""}
    return found
