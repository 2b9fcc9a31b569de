"""The fields a log line carries beyond its message (request id, run id, pipe, tenant). Pure: no I/O.

Whoever learns them keeps them in a context variable for the work in hand (the API's request middleware,
its Temporal client interceptor, the worker's activity interceptor); the JSON formatter reads them when
a line is written, so no logging call has to pass them along.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

from shared.runs.names import callbacks_workflow_id

# What a run's deliveries workflow adds to the run's workflow id.
_CALLBACKS_SUFFIX = callbacks_workflow_id("")
_fields: ContextVar[dict[str, str] | None] = ContextVar("methodflow_log_fields", default=None)


@contextmanager
def log_fields(**fields: str | None) -> Generator[None]:
    """Lay `fields` (empty ones left out) over the current fields until the block ends.

    Each block holds its own copy, so what `add_log_fields` learns inside it never reaches the
    enclosing block, nor another request's or activity's lines.
    """
    token = _fields.set({**(_fields.get() or {}), **_given(fields)})
    try:
        yield
    finally:
        _fields.reset(token)


def add_log_fields(**fields: str | None) -> None:
    """Add to the innermost `log_fields` block (nothing outside one): what is learnt midway, such as
    the run id once a start names it."""
    current = _fields.get()
    if current is not None:
        current.update(_given(fields))


def current_log_fields() -> Mapping[str, str]:
    return dict(_fields.get() or {})


def run_fields(workflow_id: str) -> dict[str, str]:
    """The run id and tenant a workflow id names.

    A run is `<tenant>/<run id>` (tenant keys and run ids hold no '/'), its deliveries
    `<tenant>/<run id>:callbacks`, its batches and chunks `<tenant>/<run id>/batch/...`; a run started
    before tenant scoping is its bare run id.
    """
    parts = workflow_id.split("/")
    if len(parts) == 1:
        return {"run_id": parts[0].removesuffix(_CALLBACKS_SUFFIX)}
    return {"tenant": parts[0], "run_id": parts[1].removesuffix(_CALLBACKS_SUFFIX)}


def _given(fields: Mapping[str, str | None]) -> dict[str, str]:
    return {name: value for name, value in fields.items() if value}
