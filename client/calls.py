"""Every operation of the service as a request description and a reader of its answer, built from the
client method's own arguments and shared by the sync and the async client, so that both send the same
requests and each keeps only its transport. Pure: nothing here touches the network.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from client.errors import RunStillRunning, error_from
from client.models import (
    CancelRequested,
    Deliveries,
    ResultItems,
    ResumeJob,
    ResumeJobAccepted,
    RunPage,
    RunProgress,
    RunRecord,
    RunResults,
    RunStarted,
    RunStatus,
    ValidationVerdict,
    Version,
)
from client.tool_models import Health, Readiness

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

# `/v1/execute` may hold the answer up to the service's EXECUTE_WAIT_SECONDS (1140 s by default), and a
# build up to BUILD_TIMEOUT_SECONDS (300 s): their attempts get longer read timeouts than the default.
EXECUTE_TIMEOUT = 1200.0
BUILD_TIMEOUT = 330.0
EXECUTE_PATH = "/v1/execute"
START_PATH = "/v1/start"


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request and how to read its successful answer; any other status raises a typed error."""

    method: str
    path: str
    read: Callable[[httpx.Response], T]
    json: Any = None
    params: tuple[tuple[str, str], ...] = ()
    headers: dict[str, str] = field(default_factory=dict[str, str])
    timeout: float | None = None  # None: the client's own
    success: frozenset[int] = frozenset({200})
    retried: bool = True  # False: one attempt (the probes say how the service is now)

    def request(self, http: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        """The request to send with `http` (either twin's transport sends it as it is)."""
        return http.build_request(
            self.method,
            self.path,
            json=self.json,
            params=self.params,
            headers=self.headers,
            timeout=self.timeout if self.timeout is not None else httpx.USE_CLIENT_DEFAULT,
        )

    def answer(self, response: httpx.Response) -> T:
        if response.status_code not in self.success:
            raise error_from(response)
        return self.read(response)


def _reader(model: type[M]) -> Callable[[httpx.Response], M]:
    return lambda response: model.model_validate(response.json())


def _run_path(run_id: str, tail: str = "") -> str:
    return f"/v1/runs/{quote(run_id, safe='')}{tail}"


def method_source(
    mthds_contents: Sequence[str] | None, files: Mapping[str, Any] | None, extra: Mapping[str, Any]
) -> dict[str, Any]:
    """A request body naming a method by its bundle texts or its `files` tree, plus any other members.

    Members left None are omitted, as both reference clients do (the service reads absent and null alike).
    """
    body: dict[str, Any] = {"mthds_contents": list(mthds_contents) if mthds_contents is not None else None}
    body["files"] = dict(files) if files is not None else None
    body.update(extra)
    return {name: value for name, value in body.items() if value is not None}


def run_request(
    path: str,
    mthds_contents: Sequence[str] | None,
    files: Mapping[str, Any] | None,
    inputs: Mapping[str, Any] | None,
    pipe_code: str | None,
    idempotency_key: str | None,
    extra: Mapping[str, Any],
) -> Call[RunStarted]:
    """`/v1/execute` or `/v1/start` (`EXECUTE_PATH`, `START_PATH`) under an `Idempotency-Key` (one is made
    when none is given), so a retried attempt attaches to the run the first one started instead of
    starting another."""
    key = idempotency_key or str(uuid.uuid4())
    return Call(
        "POST",
        path,
        _reader(RunStarted),
        json=method_source(mthds_contents, files, {"inputs": inputs, "pipe_code": pipe_code, **extra}),
        headers={"Idempotency-Key": key},
        timeout=EXECUTE_TIMEOUT if path == EXECUTE_PATH else None,
        success=frozenset({200, 202}),
    )


def resume(
    run_id: str,
    mthds_contents: Sequence[str] | None,
    files: Mapping[str, Any] | None,
    inputs: Mapping[str, Any] | None,
    pipeline_run_id: str | None,
    extra: Mapping[str, Any],
) -> Call[RunStarted]:
    """`/v1/runs/{id}/resume` under a new run id (one is made when none is given): a retried attempt
    finds the run the first one started (200) instead of starting another."""
    body = method_source(
        mthds_contents,
        files,
        {"inputs": inputs, "pipeline_run_id": pipeline_run_id or str(uuid.uuid4()), **extra},
    )
    return Call(
        "POST", _run_path(run_id, "/resume"), _reader(RunStarted), json=body, success=frozenset({200, 202})
    )


def bulk_resume(
    resume_filter: Mapping[str, Any],
    mthds_contents: Sequence[str] | None,
    files: Mapping[str, Any] | None,
    idempotency_key: str | None,
    extra: Mapping[str, Any],
) -> Call[ResumeJobAccepted]:
    """`POST /v1/runs/resume`: one job resuming every run of the caller that `resume_filter` matches,
    under an `Idempotency-Key` (one is made when none is given), so a retried attempt answers the job the
    first one started instead of starting a second."""
    body = method_source(mthds_contents, files, {"filter": dict(resume_filter), **extra})
    return Call(
        "POST",
        "/v1/runs/resume",
        _reader(ResumeJobAccepted),
        json=body,
        headers={"Idempotency-Key": idempotency_key or str(uuid.uuid4())},
        success=frozenset({202}),
    )


def resume_job(job_id: str) -> Call[ResumeJob]:
    return Call("GET", f"/v1/runs/resume/{quote(job_id, safe='')}", _reader(ResumeJob))


def status(run_id: str) -> Call[RunStatus]:
    return Call("GET", _run_path(run_id, "/status"), _reader(RunStatus))


def progress(run_id: str) -> Call[RunProgress]:
    return Call("GET", _run_path(run_id, "/progress"), _reader(RunProgress))


def run_record(run_id: str) -> Call[RunRecord]:
    return Call("GET", _run_path(run_id), _reader(RunRecord))


def _while_running(model: type[M]) -> Callable[[httpx.Response], M | None]:
    """Reads 200 as `model` and 202 (the run has not ended yet) as None."""
    return lambda response: model.model_validate(response.json()) if response.status_code == 200 else None


def results(run_id: str, artifacts: Sequence[str] | None = None) -> Call[RunResults | None]:
    """200 gives the results; 202 (not ended yet) gives None; a run that did not succeed is 409.
    `artifacts` narrows the answer to the named members (http-api.md §9.6)."""
    params = (("artifacts", ",".join(artifacts)),) if artifacts is not None else ()
    return Call(
        "GET",
        _run_path(run_id, "/results"),
        _while_running(RunResults),
        params=params,
        success=frozenset({200, 202}),
    )


def result_items(run_id: str, offset: int, limit: int, name: str | None) -> Call[ResultItems | None]:
    """A page of the run's list output (the main one, or `name`); None while the run goes on."""
    params = [("offset", str(offset)), ("limit", str(limit))]
    if name is not None:
        params.append(("name", name))
    return Call(
        "GET",
        _run_path(run_id, "/results/items"),
        _while_running(ResultItems),
        params=tuple(params),
        success=frozenset({200, 202}),
    )


def ended_items(page: ResultItems | None, run_id: str) -> ResultItems:
    """A page of items read to iterate them: None (the run goes on) raises `RunStillRunning`."""
    if page is None:
        msg = f"the run {run_id} has not ended yet: wait for it before reading its items"
        raise RunStillRunning(msg, status=202, problem={"pipeline_run_id": run_id})
    return page


def cancel(run_id: str, reason: str | None) -> Call[CancelRequested]:
    body = {"reason": reason} if reason is not None else {}
    return Call(
        "POST", _run_path(run_id, "/cancel"), _reader(CancelRequested), json=body, success=frozenset({202})
    )


def events_path(run_id: str) -> str:
    return _run_path(run_id, "/events")


def deliveries(run_id: str) -> Call[Deliveries]:
    return Call("GET", _run_path(run_id, "/deliveries"), _reader(Deliveries))


def runs_page(
    cursor: str | None, state: str | Sequence[str] | None, pipe_code: str | None, limit: int
) -> Call[RunPage]:
    params = [("limit", str(limit))]
    states = [state] if isinstance(state, str) else list(state or [])
    params += [("state", one) for one in states]
    if pipe_code is not None:
        params.append(("pipe_code", pipe_code))
    if cursor is not None:
        params.append(("cursor", cursor))
    return Call("GET", "/v1/runs", _reader(RunPage), params=tuple(params))


def verdict(path: str, body: dict[str, Any], timeout: float | None = None) -> Call[ValidationVerdict]:
    """A diagnostic route (`/v1/validate`, the build tools, `/v1/pipe-io`): always a 200 verdict."""
    return Call("POST", path, _reader(ValidationVerdict), json=body, timeout=timeout)


def model_call(
    method: str, path: str, model: type[M], body: Any = None, params: Mapping[str, str] | None = None
) -> Call[M]:
    """A plain route answering 200 with one model (lint, format, models)."""
    return Call(method, path, _reader(model), json=body, params=tuple((params or {}).items()))


def version() -> Call[Version]:
    return Call("GET", "/v1/version", _reader(Version))


def health() -> Call[Health]:
    return Call("GET", "/health", _reader(Health), retried=False)


def readiness() -> Call[Readiness]:
    return Call("GET", "/ready", _reader(Readiness), retried=False)
