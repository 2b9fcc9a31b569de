"""Bulk resume after an incident (issue 19, `POST /v1/runs/resume`): a job resuming every run of the caller
that a filter matches, paced, durable across API restarts.

Why the job runs in the API process: each run is resumed through the API's own submission path
(`api.routes.run_resume.start_resume`: the checks of a resume, validation of a corrected method, the
tenant's run limit, idempotency by run id), the very code of `POST /v1/runs/{id}/resume`; the worker has
none of it (`api/` and `worker/` never import each other). So the job is an asyncio task of the API,
paced by `BULK_RESUME_RATE_PER_SECOND`, and at start-up (the app's lifespan) the API continues every
job left unfinished.

Durable in the blob store, under the tenant's prefix:
- `<tenant>/resume-jobs/<job id>/manifest.json`: the caller, the request, the matched run ids (written once);
- `<tenant>/resume-jobs/<job id>/runs/<run id>.json`: each run's outcome, written when it is reached;
- `<tenant>/resume-jobs/<job id>/done.json`: the job's end.
Plus one pointer per unfinished job, `resume-jobs-open/<tenant>/<job id>.json`, outside every tenant:
the start-up finds open jobs there without walking every tenant's storage; it goes when the job ends.

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
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from api.auth import AuthMode, Caller
from api.method_source import SOURCE_FIELDS, MethodSourceFields, bundle_sources, caller_blobs
from api.problems import ProblemError, request_invalid
from api.request_id import request_id_of
from api.routes.run_resume import start_resume
from api.run_listing import build_query, list_page
from api.run_records import read_run
from api.run_request import REUSE_DESCRIPTION, BudgetMembers, ReuseScope, run_budget
from api.run_resume import RESUMABLE_STATES, ResumeRequestBody, resumed_by
from api.settings import ApiSettings
from api.temporal_gateway import TemporalGateway
from api.validation_cache import ValidationCache
from shared.problems.catalogue import ProblemCode
from shared.runs.run_states import RunState, parse_state_filter
from shared.runs.timestamps import rfc3339
from shared.runtime.json_values import as_mapping
from shared.storage.blob_store import (
    STORAGE_SCHEME,
    BlobNotFoundError,
    BlobStore,
    StorageUnavailableError,
)

logger = logging.getLogger(__name__)

OPEN_JOBS = "resume-jobs-open"
_JOBS = "resume-jobs"
_MAX_RUN_ID = 128  # api.run_request.RUN_ID_PATTERN
_PAGE = 100
# A transient refusal (tenant run limit, Temporal down) is tried again after its Retry-After, or this.
_RETRY_SECONDS = 2.0
_UNEXPECTED = "The service met an unexpected error resuming this run; it is logged with the job's id."
_TRANSIENT = frozenset({ProblemCode.TENANT_RUN_LIMIT_REACHED, ProblemCode.RUNTIME_UNAVAILABLE})

Outcome = Literal["resumed", "skipped", "failed"]


class ResumeFilter(BaseModel):
    """Which of the caller's runs to resume: all of the given members must hold."""

    model_config = ConfigDict(strict=True, extra="forbid")

    states: list[str] | None = Field(
        default=None, description="FAILED and/or CANCELLED (a timed-out run is FAILED); absent: both."
    )
    pipe_code: str | None = Field(default=None, description="Only runs of this pipe.")
    created_after: str | None = Field(default=None, description="RFC 3339 instant: runs started at or after.")
    created_before: str | None = Field(
        default=None, description="RFC 3339 instant: runs started at or before."
    )


class BulkResumeRequestBody(MethodSourceFields):
    """What `POST /v1/runs/resume` reads: a filter, and what every resume shares (no `inputs`)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    filter: ResumeFilter = Field(description="The runs to resume; `{}`: every failed or cancelled run.")
    callback_urls: list[str] | None = Field(
        default=None, description="The new runs' callback URLs; absent: each original run's."
    )
    budget: BudgetMembers = None
    reuse: ReuseScope | None = Field(default=None, description=REUSE_DESCRIPTION)


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

    @property
    def caller(self) -> Caller:
        return Caller(self.identity, AuthMode(self.mode))


def resumed_run_id(original: str, job_id: str) -> str:
    """The id of the run resuming `original` in job `job_id`: the same in every attempt of the job."""
    run_id = f"{original}-r-{job_id}"
    if len(run_id) <= _MAX_RUN_ID:
        return run_id
    return f"{hashlib.sha256(original.encode('utf-8')).hexdigest()[:40]}-r-{job_id}"


def parse_body(data: dict[str, Any]) -> BulkResumeRequestBody:
    """The body as a `BulkResumeRequestBody`; 422 `request.invalid` naming the first bad member."""
    if "inputs" in data:
        raise request_invalid(
            field="inputs",
            reason="each run keeps its own inputs; resume one run (POST /v1/runs/{id}/resume) to correct them.",
        )
    try:
        body = BulkResumeRequestBody.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [str(part) for part in first["loc"]]
        # A filter member is named in full (`filter.states`); elsewhere the top member, as other routes do.
        field = ".".join(loc[:2]) if loc[:1] == ["filter"] and len(loc) > 1 else (loc[0] if loc else "body")
        raise request_invalid(field=field, reason=f"{first['msg'].lower()}.") from exc
    run_budget(body.budget)
    return body


def filter_states(given: ResumeFilter) -> list[str]:
    """The states to match, each FAILED or CANCELLED; 422 naming `filter.states` otherwise."""
    if given.states is None:
        return [RunState.FAILED.value, RunState.CANCELLED.value]
    if not given.states:
        raise request_invalid(field="filter.states", reason="name at least one of FAILED and CANCELLED.")
    wanted: list[str] = []
    for raw in given.states:
        state = parse_state_filter(raw) if raw.strip() else None
        if state is None:
            raise request_invalid(field="filter.states", reason=f"'{raw[:64]}' is not a run state.")
        if state not in RESUMABLE_STATES:
            raise request_invalid(
                field="filter.states",
                reason=f"a {state.value} run cannot be resumed; name FAILED and/or CANCELLED.",
            )
        if state.value not in wanted:
            wanted.append(state.value)
    return wanted


def filter_instants(given: ResumeFilter) -> tuple[str | None, str | None]:
    """`created_after` and `created_before` as RFC 3339 in UTC; 422 when unreadable or out of order."""
    after = _instant(given.created_after, "filter.created_after")
    before = _instant(given.created_before, "filter.created_before")
    if after is not None and before is not None and after[1] > before[1]:
        raise request_invalid(field="filter.created_after", reason="it is later than 'created_before'.")
    return (after[0] if after else None, before[0] if before else None)


def _instant(value: str | None, field: str) -> tuple[str, datetime] | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None or "T" not in value:
            parsed = None
        shown = rfc3339(parsed) if parsed is not None else None
    except (ValueError, OverflowError):
        parsed, shown = None, None
    if parsed is None or shown is None:
        raise request_invalid(
            field=field, reason="give an RFC 3339 instant with its offset, e.g. 2026-11-23T14:00:00Z."
        )
    return shown, parsed


def check_correction(
    body: BulkResumeRequestBody, caller: Caller, settings: ApiSettings, verdicts: ValidationCache
) -> None:
    """A corrected method must validate: the 422 a single resume answers, before any run is matched.
    Blocking (it reads blobs and validates): call it off the event loop."""
    if not any(getattr(body, name) is not None for name in SOURCE_FIELDS):
        return
    sources = bundle_sources(body, settings, refuse_custom_code=True, blobs=caller_blobs(caller, settings))
    report = verdicts.validate(sources)
    if not report.is_valid or report.library is None:
        errors = [issue.to_problem_item() for issue in report.issues]
        raise ProblemError(
            ProblemCode.METHOD_INVALID,
            f"The method does not validate ({len(errors)} fault(s)).",
            errors=errors,
        )


@dataclass(frozen=True, slots=True)
class RunFilter:
    """A checked filter, as `api.run_listing.list_page` takes it."""

    states: list[str]
    pipe_code: str | None
    after: str | None
    before: str | None


def checked_filter(given: ResumeFilter, caller: Caller) -> RunFilter:
    """The filter checked (pure); 422 `request.invalid` naming its first bad member (`filter.<member>`)."""
    states = filter_states(given)
    after, before = filter_instants(given)
    try:  # the listing's own check of a pipe code
        build_query(caller, states=states, pipe_code=given.pipe_code, after=None, before=None)
    except ProblemError as exc:
        raise request_invalid(field="filter.pipe_code", reason="it is not a pipe code.") from exc
    return RunFilter(states, given.pipe_code, after, before)


async def matching_runs(gateway: TemporalGateway, caller: Caller, given: RunFilter) -> list[str]:
    """The ids of the caller's runs the filter matches (Temporal visibility), in the listing's order."""
    client = await gateway.client()
    found: dict[str, None] = {}
    cursor: str | None = None
    while True:
        page = await list_page(
            client,
            caller,
            states=given.states,
            pipe_code=given.pipe_code,
            after=given.after,
            before=given.before,
            limit=_PAGE,
            cursor=cursor,
        )
        for item in page["items"]:
            if item["state"] in given.states:
                found[item["pipeline_run_id"]] = None
        cursor = page["next_cursor"]
        if cursor is None:
            return list(found)


def job_key(storage_prefix: str, job_id: str, name: str) -> str:
    return f"{storage_prefix}/{_JOBS}/{job_id}/{name}"


def _open_key(storage_prefix: str, job_id: str) -> str:
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
    """Write a new job (blocking): its open pointer, or its end when it matched nothing, then its manifest.

    The manifest last: a job is visible once whole, and a crash before it leaves at most a pointer that
    the next start-up removes.
    """
    if manifest.run_ids:
        _put(store, _open_key(storage_prefix, manifest.job_id), {"job_id": manifest.job_id})
    else:
        done = {"finished_at": manifest.created_at}
        _put(store, job_key(storage_prefix, manifest.job_id, "done.json"), done)
    _put(store, job_key(storage_prefix, manifest.job_id, "manifest.json"), asdict(manifest))


def read_manifest(store: BlobStore, storage_prefix: str, job_id: str) -> JobManifest | None:
    found = _get(store, job_key(storage_prefix, job_id, "manifest.json"))
    return JobManifest(**found) if found is not None else None


def run_outcomes(store: BlobStore, storage_prefix: str, job_id: str) -> dict[str, dict[str, Any]]:
    """The outcome of every run the job has reached, by run id (blocking)."""
    outcomes: dict[str, dict[str, Any]] = {}
    for uri in store.list(job_key(storage_prefix, job_id, "runs")):
        found = _get(store, uri.removeprefix(STORAGE_SCHEME))
        if found is not None and isinstance(found.get("run_id"), str):
            outcomes[found["run_id"]] = found
    return outcomes


def finish(store: BlobStore, storage_prefix: str, job_id: str) -> None:
    """Mark the job ended (blocking); its open pointer goes after, so a crash between leaves it findable."""
    _put(store, job_key(storage_prefix, job_id, "done.json"), {"finished_at": rfc3339(datetime.now(UTC))})
    store.delete_prefix(_open_key(storage_prefix, job_id))


def job_status(store: BlobStore, caller: Caller, job_id: str) -> dict[str, Any]:
    """`GET /v1/runs/resume/{job_id}`'s body (blocking); 404 `job.not_found` unless it is the caller's job."""
    manifest = read_manifest(store, caller.storage_prefix, job_id) if _is_job_id(job_id) else None
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


def _is_job_id(value: str) -> bool:
    return len(value) == 32 and all(char in "0123456789abcdef" for char in value)


def _open_jobs(store: BlobStore) -> list[tuple[str, str]]:
    """(storage prefix, job id) of every job left unfinished (blocking)."""
    found: list[tuple[str, str]] = []
    for uri in store.list(OPEN_JOBS):
        prefix, _, name = uri.removeprefix(f"{STORAGE_SCHEME}{OPEN_JOBS}/").rpartition("/")
        job_id = name.removesuffix(".json")
        if prefix and _is_job_id(job_id):
            found.append((prefix, job_id))
    return found


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


class ResumeJobs:
    """The bulk resume jobs this API process runs, one asyncio task each (`app.state.resume_jobs`)."""

    def __init__(self, settings: ApiSettings, verdicts: ValidationCache, gateway: TemporalGateway) -> None:
        self._settings = settings
        self._verdicts = verdicts
        self._gateway = gateway
        self._tasks: dict[str, asyncio.Task[None]] = {}

    async def accept(self, request: Request, caller: Caller, body: BulkResumeRequestBody) -> JobManifest:
        """Check the request, match the runs, write the job and start it."""
        run_filter = checked_filter(body.filter, caller)
        await run_in_threadpool(check_correction, body, caller, self._settings, self._verdicts)
        run_ids = await matching_runs(self._gateway, caller, run_filter)
        resume = body.model_dump(exclude_none=True, exclude={"filter"})
        manifest = JobManifest(
            job_id=uuid.uuid4().hex,
            identity=caller.identity,
            mode=caller.mode.value,
            created_at=rfc3339(datetime.now(UTC)),
            origin=self._settings.public_base_url or str(request.base_url).rstrip("/"),
            request_id=request_id_of(request.scope),
            resume=resume,
            run_ids=run_ids,
        )
        await run_in_threadpool(write_manifest, self._settings.blob_store, caller.storage_prefix, manifest)
        if run_ids:
            self._start(manifest)
        return manifest

    async def continue_open(self) -> None:
        """Start again every job left unfinished (at the API's start-up)."""
        store = self._settings.blob_store
        try:
            open_jobs = await run_in_threadpool(_open_jobs, store)
        except StorageUnavailableError:  # the API serves without them; the next start-up continues them
            logger.exception("bulk resume jobs cannot be listed; they continue at the next start-up")
            return
        for prefix, job_id in open_jobs:
            manifest = await run_in_threadpool(read_manifest, store, prefix, job_id)
            if manifest is None:  # a crash before the manifest: no job was accepted
                await run_in_threadpool(store.delete_prefix, _open_key(prefix, job_id))
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
                key = job_key(prefix, manifest.job_id, f"runs/{run_id}.json")
                await run_in_threadpool(_put, store, key, outcome)
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
