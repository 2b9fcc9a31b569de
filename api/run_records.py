"""Reading a run from Temporal (http-api.md §9.1): the workflow is the record, its result is the end.

Describe gives the memo (identity, digest, request id...), the status and the `MethodflowState` search
attribute the workflow keeps current; an ended run's result carries its state, output and error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, cast

from starlette.concurrency import run_in_threadpool
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

from api.auth import Caller
from api.problems import ProblemError
from api.temporal_gateway import temporal_unavailable
from shared.problems.catalogue import ProblemCode
from shared.problems.run_errors import run_error
from shared.runs.names import RUN_WORKFLOW, STATE_ATTRIBUTE, run_workflow_id
from shared.runs.run_states import RunState
from shared.runs.timestamps import rfc3339
from shared.runs.workflow_io import RunEnd, RunSpec
from shared.storage.blob_store import BlobNotFoundError, BlobStore
from shared.storage.run_storage import get_method_tree

STATE_KEY = SearchAttributeKey.for_keyword(STATE_ATTRIBUTE)

_ENDED_BY_TEMPORAL: dict[WorkflowExecutionStatus, tuple[RunState, str, str]] = {
    WorkflowExecutionStatus.CANCELED: (RunState.CANCELLED, "run.cancelled", "The run was cancelled."),
    WorkflowExecutionStatus.TERMINATED: (RunState.CANCELLED, "run.terminated", "The run was terminated by an operator."),
    WorkflowExecutionStatus.TIMED_OUT: (RunState.FAILED, "run.timed_out", "The run exceeded its time limit."),
    WorkflowExecutionStatus.FAILED: (RunState.FAILED, "runtime.unexpected", "The run met an unexpected fault."),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class RunRecord:
    run_id: str
    # The Temporal workflow id: derived from the caller's tenant and the run id (http-api.md §7).
    workflow_id: str
    identity: str
    # The tenant the memo names; None for a run started before run ids were scoped by tenant.
    tenant_key: str | None
    state: RunState
    pipe_code: str
    created_at: str
    finished_at: str | None
    request_id: str | None
    request_digest: str
    callback_urls: list[str]
    end: RunEnd | None = None
    error: dict[str, Any] | None = None
    error_status: int | None = None
    # The run this one resumes (`POST /v1/runs/{id}/resume`), from the memo; None for a fresh run.
    resumed_from: str | None = None


async def read_run(client: Client, run_id: str, *, caller: Caller) -> RunRecord | None:
    """The caller's run `run_id`, or None when it has none under that id.

    The run lives under the workflow id scoped by the caller's tenant; a run started before run ids
    were scoped lives under the bare id and is the caller's when its memo names the caller's
    `legacy_identity`.
    """
    record = await _read_workflow(client, run_workflow_id(caller.tenant_key, run_id), run_id)
    if record is not None:
        return record if record.tenant_key == caller.tenant_key else None
    if caller.legacy_identity is None:
        return None
    legacy = await _read_workflow(client, run_id, run_id)
    if legacy is None or legacy.tenant_key is not None or legacy.identity != caller.legacy_identity:
        return None
    return legacy


async def _read_workflow(client: Client, workflow_id: str, run_id: str) -> RunRecord | None:
    handle = client.get_workflow_handle(workflow_id, result_type=RunEnd)
    try:
        description = await handle.describe()
    except RPCError as exc:
        if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
            return None
        raise temporal_unavailable() from exc
    if description.workflow_type != RUN_WORKFLOW:
        return None
    memo: Mapping[str, Any] = await description.memo()
    record = RunRecord(
        run_id=run_id,
        workflow_id=workflow_id,
        identity=str(memo.get("identity", "")),
        tenant_key=_optional_str(memo.get("tenant")),
        state=_live_state(description),
        pipe_code=str(memo.get("pipe_code", "")),
        created_at=str(memo.get("created_at") or _instant(description.start_time)),
        finished_at=None,
        request_id=_optional_str(memo.get("request_id")),
        request_digest=str(memo.get("request_digest", "")),
        callback_urls=_strings(memo.get("callback_urls")),
        resumed_from=_optional_str(memo.get("resumed_from")),
    )
    status = description.status
    if status == WorkflowExecutionStatus.COMPLETED:
        try:
            end = await handle.result()
        except RPCError as exc:
            raise temporal_unavailable() from exc
        return _with_end(record, end)
    if status is not None and status in _ENDED_BY_TEMPORAL:
        state, code, detail = _ENDED_BY_TEMPORAL[status]
        error, error_status = run_error(code, detail, pipeline_run_id=run_id)
        finished = _instant(description.close_time) if description.close_time else None
        return _replace(record, state=state, finished_at=finished, error=error, error_status=error_status)
    return record


async def owned_run(client: Client, run_id: str, caller: Caller) -> RunRecord:
    """The caller's run; 404 `run.not_found` for an unknown id and for another identity's run alike."""
    record = await read_run(client, run_id, caller=caller)
    if record is None:
        raise ProblemError(
            ProblemCode.RUN_NOT_FOUND,
            f"No run '{run_id}' is visible to this caller.",
            params={"pipeline_run_id": run_id},
        )
    return record


async def read_spec(client: Client, record: RunRecord) -> RunSpec | None:
    """The run's request as the workflow received it (the first event of its history)."""
    handle = client.get_workflow_handle(record.workflow_id)
    async for event in handle.fetch_history_events():
        if event.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            return None
        payloads = event.workflow_execution_started_event_attributes.input.payloads
        decoded = await client.data_converter.decode(list(payloads), [RunSpec])
        spec = decoded[0]
        return spec if isinstance(spec, RunSpec) else None
    return None


async def method_files(spec: RunSpec, store: BlobStore) -> dict[str, Any] | None:
    """The `files` tree the run was sent, as sent; None when its method came another way.

    Runs carry the tree inline in their input (older runs) or name it by digest in the blob store,
    so that the method travels once. A tree storage has lost is left out rather than failing the read.
    """
    if spec.files is not None or spec.files_digest is None:
        return spec.files
    try:
        return await run_in_threadpool(get_method_tree, store, spec.files_digest)
    except BlobNotFoundError:
        return None


def _with_end(record: RunRecord, end: RunEnd) -> RunRecord:
    return _replace(
        record,
        state=end.state,
        finished_at=end.finished_at,
        end=end,
        error=end.error,
        error_status=end.error_status,
    )


def _replace(record: RunRecord, **changes: Any) -> RunRecord:
    return replace(record, **changes)


def _live_state(description: WorkflowExecutionDescription) -> RunState:
    values = description.typed_search_attributes.get(STATE_KEY)
    try:
        state = RunState(values) if values else RunState.STARTED
    except ValueError:
        return RunState.STARTED
    if state.is_terminal:
        # The workflow marks the end, then stores what it must before it closes: until it has closed
        # (and its result is readable) the run is still RUNNING.
        return RunState.RUNNING
    return state


def _instant(value: datetime | None) -> str:
    return rfc3339(value) if value is not None else ""


def _strings(value: object) -> list[str]:
    return [str(item) for item in cast(list[object], value)] if isinstance(value, list) else []


def _optional_str(value: object) -> str | None:
    return str(value) if value else None
