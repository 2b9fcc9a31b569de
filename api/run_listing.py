"""`GET /v1/runs` (http-api.md §9.2): a page of the caller's runs from Temporal visibility.

The filter is built from validated values only (states from the enum, instants re-formatted, the pipe
code checked against a strict pattern), and string literals are escaped, so no caller text reaches the
query language unchecked.

Order: the query carries no `ORDER BY`, which SQL visibility (the dev server's SQLite, PostgreSQL, MySQL)
and Temporal Cloud refuse. Their default order is the listing's order: runs still open first, newest
start first, then ended runs, most recently ended first.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.api.workflowservice.v1 import ListWorkflowExecutionsRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.auth import Caller
from api.problems import request_invalid
from api.temporal_gateway import temporal_unavailable
from shared.runs.names import (
    PIPE_CODE_ATTRIBUTE,
    RUN_WORKFLOW,
    STATE_ATTRIBUTE,
    TENANT_ATTRIBUTE,
    run_id_of,
    tenant_key_of,
)
from shared.runs.run_states import RunState, parse_state_filter
from shared.runs.timestamps import rfc3339

_PIPE_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,256}$")
_RUNNING_STATUS = 1  # WorkflowExecutionStatus.RUNNING
_CLOSED_STATUS = {
    # Temporal statuses that end a run without the workflow recording its state (§9.1).
    4: RunState.CANCELLED,  # CANCELED
    5: RunState.CANCELLED,  # TERMINATED
    7: RunState.FAILED,  # TIMED_OUT
    3: RunState.FAILED,  # FAILED
}


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _instant(value: str, field: str) -> str:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        # In UTC, an instant of year 1 or 9999 with an offset can fall outside the years Python counts.
        instant = rfc3339(parsed) if parsed.tzinfo is not None and "T" in value else None
    except (ValueError, OverflowError):
        instant = None
    if instant is None:
        raise request_invalid(
            field=field, reason="give an RFC 3339 instant with its offset, e.g. 2026-11-23T14:00:00Z."
        )
    return instant


def build_query(
    caller: Caller, *, states: list[str], pipe_code: str | None, after: str | None, before: str | None
) -> str:
    # The caller's tenant, and the identity its runs from before tenant-scoped ids recorded (if any):
    # `_is_callers` then keeps only what is truly the caller's.
    tenants = dict.fromkeys(value for value in (caller.tenant_key, caller.legacy_identity) if value)
    clauses = [
        f"WorkflowType = {_literal(RUN_WORKFLOW)}",
        f"{TENANT_ATTRIBUTE} IN ({', '.join(_literal(tenant) for tenant in tenants)})",
    ]
    wanted: list[RunState] = []
    for raw in (part for value in states for part in value.split(",") if part.strip()):
        parsed = parse_state_filter(raw)
        if parsed is None:
            raise request_invalid(field="state", reason=f"'{raw.strip()}' is not a run state.")
        if parsed not in wanted:
            wanted.append(parsed)
    if wanted:
        clauses.append(f"{STATE_ATTRIBUTE} IN ({', '.join(_literal(state.value) for state in wanted)})")
    if pipe_code is not None:
        if not _PIPE_CODE.match(pipe_code):
            raise request_invalid(field="pipe_code", reason="it is not a pipe code.")
        clauses.append(f"{PIPE_CODE_ATTRIBUTE} = {_literal(pipe_code)}")
    if after is not None:
        clauses.append(f"StartTime >= {_literal(_instant(after, 'created_after'))}")
    if before is not None:
        clauses.append(f"StartTime <= {_literal(_instant(before, 'created_before'))}")
    return " AND ".join(clauses)


async def list_page(
    client: Client,
    caller: Caller,
    *,
    states: list[str],
    pipe_code: str | None,
    after: str | None,
    before: str | None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    query = build_query(caller, states=states, pipe_code=pipe_code, after=after, before=before)
    try:
        token = base64.urlsafe_b64decode(cursor.encode("ascii")) if cursor else b""
    except (ValueError, UnicodeEncodeError) as exc:
        raise request_invalid(field="cursor", reason="it is not a cursor this service gave.") from exc
    request = ListWorkflowExecutionsRequest(
        namespace=client.namespace, page_size=limit, next_page_token=token, query=query
    )
    try:
        response = await client.workflow_service.list_workflow_executions(request)
    except RPCError as exc:
        if cursor:
            raise request_invalid(field="cursor", reason="it is not a cursor this service gave.") from exc
        if exc.status == RPCStatusCode.INVALID_ARGUMENT:
            raise  # Temporal refused the query this module built: a fault of ours, a logged 500
        raise temporal_unavailable() from exc
    items: list[dict[str, Any]] = []
    for execution in response.executions:
        attributes = execution.search_attributes.indexed_fields
        tenant = _keyword(attributes[TENANT_ATTRIBUTE].data) if TENANT_ATTRIBUTE in attributes else ""
        if not _is_callers(execution.execution.workflow_id, tenant, caller):
            continue
        state = _closed_state(execution.status) or _state_of(
            attributes[STATE_ATTRIBUTE].data if STATE_ATTRIBUTE in attributes else b"",
            closed=execution.status != _RUNNING_STATUS,
        )
        memo = _memo(client, execution.memo.fields)
        items.append(
            {
                "pipeline_run_id": run_id_of(execution.execution.workflow_id),
                "status": state.value,
                "state": state.value,
                "pipe_code": _keyword(attributes[PIPE_CODE_ATTRIBUTE].data)
                if PIPE_CODE_ATTRIBUTE in attributes
                else None,
                # The same instants `/status` and `/v1/runs/{id}` give: the memo's, which the API and the
                # workflow wrote; Temporal's own times only for what they never wrote.
                "created_at": memo.get("created_at") or _ts(execution.start_time.ToDatetime()),
                "finished_at": (memo.get("finished_at") or _ts(execution.close_time.ToDatetime()))
                if execution.HasField("close_time")
                else None,
                "error": None,
            }
        )
    next_token = response.next_page_token
    next_cursor = base64.urlsafe_b64encode(next_token).decode("ascii") if next_token else None
    return {"items": items, "next_cursor": next_cursor if next_cursor != cursor else None}


def _is_callers(workflow_id: str, tenant: str, caller: Caller) -> bool:
    """A scoped id must be under the caller's tenant; a legacy one must have recorded its identity.

    The query's `IN` could match a legacy run whose identity happens to spell the caller's tenant key
    (or the reverse): the workflow id settles it, since scoped ids carry their tenant.
    """
    scoped_tenant = tenant_key_of(workflow_id)
    if scoped_tenant is not None:
        return scoped_tenant == caller.tenant_key
    return caller.legacy_identity is not None and tenant == caller.legacy_identity


def _ts(naive_utc: datetime) -> str:
    return rfc3339(naive_utc.replace(tzinfo=UTC))


def _keyword(data: bytes) -> str:
    return data.decode("utf-8").strip('"')


def _state_of(data: bytes, *, closed: bool) -> RunState:
    try:
        state = RunState(_keyword(data)) if data else RunState.STARTED
    except ValueError:
        return RunState.STARTED
    # As `/status` says (run_records): a run that has marked its end is RUNNING until its workflow closes.
    return state if closed or not state.is_terminal else RunState.RUNNING


def _memo(client: Client, fields: Mapping[str, Payload]) -> dict[str, str]:
    """The memo's instants (`created_at`, `finished_at`) as strings; absent ones left out."""
    found: dict[str, str] = {}
    for name in ("created_at", "finished_at"):
        if name in fields:
            value = client.data_converter.payload_converter.from_payload(fields[name])
            if isinstance(value, str) and value:
                found[name] = value
    return found


def _closed_state(status: int) -> RunState | None:
    return _CLOSED_STATUS.get(status)
