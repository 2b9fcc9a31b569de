"""`POST /v1/runs/resume` and `GET /v1/runs/resume/{job_id}` (issue 19): bulk resume after an incident.

The routes only read and answer; the job (its request, its matching, its pacing and durability) is
`api/bulk_resume.py` (its request and filter `api/bulk_resume_filter.py`, its storage
`api/bulk_resume_store.py`), and each run is resumed by the single resume's own path.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.bulk_resume import ResumeJobs
from api.bulk_resume_filter import BulkResumeRequestBody, parse_body
from api.bulk_resume_store import job_status
from api.deps import CallerDep, SettingsDep
from api.openapi_bodies import request_body
from api.request_body import read_json_object

router = APIRouter(tags=["runs"])


class BulkResumeAccepted(BaseModel):
    """The job accepted: its id, its state (DONE at once when nothing matched), how many runs matched."""

    job_id: str
    state: Literal["RUNNING", "DONE"]
    matched: int


class ResumeJobProblem(BaseModel):
    code: str
    detail: str


class ResumeJobRun(BaseModel):
    """One matched run the job has reached."""

    run_id: str
    outcome: Literal["resumed", "skipped", "failed"]
    resumed_run_id: str | None = Field(default=None, description="Present when `outcome` is 'resumed'.")
    problem: ResumeJobProblem | None = Field(default=None, description="Why it was skipped or failed.")


class ResumeJobStatus(BaseModel):
    """A job's progress: the runs reached so far, in the order they matched."""

    job_id: str
    state: Literal["RUNNING", "DONE"]
    matched: int
    resumed: int
    skipped: int
    failed: int
    runs: list[ResumeJobRun]
    created_at: str
    finished_at: str | None


async def _jobs(request: Request) -> ResumeJobs:
    jobs: ResumeJobs = request.app.state.resume_jobs
    return jobs


ResumeJobsDep = Annotated[ResumeJobs, Depends(_jobs)]


def _request_body() -> dict[str, Any]:
    """The body's document: the method source is optional (none: each run's own)."""
    document = request_body(BulkResumeRequestBody)
    document["content"]["application/json"]["schema"].pop("oneOf", None)
    return document


@router.post(
    "/v1/runs/resume",
    status_code=202,
    response_model=BulkResumeAccepted,
    response_description="The job is accepted (DONE at once when nothing matched); `Location` names it.",
    openapi_extra={"requestBody": _request_body()},
)
async def bulk_resume(request: Request, caller: CallerDep, jobs: ResumeJobsDep) -> JSONResponse:
    """Resume every failed or cancelled run of the caller that the filter matches, paced: 202 with the job's
    id, whose progress `GET /v1/runs/resume/{job_id}` reads. A repeat with the same `Idempotency-Key`
    answers the same job (409 with another body); a filter matching over `BULK_RESUME_MAX_RUNS` is 422."""
    body = parse_body(await read_json_object(request))
    job = await jobs.accept(request, caller, body, request.headers.get("idempotency-key"))
    answer = BulkResumeAccepted(
        job_id=job.job_id, state="DONE" if job.finished else "RUNNING", matched=job.matched
    )
    return JSONResponse(
        answer.model_dump(), status_code=202, headers={"Location": f"/v1/runs/resume/{job.job_id}"}
    )


@router.get(
    "/v1/runs/resume/{job_id}",
    response_model=ResumeJobStatus,
    response_description="The job's progress, or its end.",
)
async def bulk_resume_job(job_id: str, caller: CallerDep, settings: SettingsDep) -> JSONResponse:
    """A bulk resume job's progress: per run reached, the new run's id, or why it was skipped or failed."""
    status = await run_in_threadpool(job_status, settings.blob_store, caller, job_id)
    return JSONResponse(status)
