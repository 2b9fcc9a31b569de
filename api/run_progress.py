"""A run's progress as the API reads it (http-api.md §9.4, §9.5, §9.8).

While the run goes on, the workflow's progress query answers, a page of events at a time, and the
counters of a batch running as a batch workflow are that workflow's live ones. Once it has
ended, the progress is in the run's end (its events stored when the log was large), so reading it needs
neither a worker nor a replay of the run.
"""

from __future__ import annotations

from datetime import timedelta

from starlette.concurrency import run_in_threadpool
from temporalio.client import Client, WorkflowQueryFailedError, WorkflowQueryRejectedError
from temporalio.service import RPCError

from api.batch_progress import live_counters
from api.run_records import RunRecord
from shared.runs.names import PROGRESS_QUERY
from shared.runs.workflow_io import ProgressView
from shared.storage.blob_store import BlobNotFoundError, BlobStore

# A query waits for a worker to answer it; with none polling it would wait far longer than a read should.
QUERY_TIMEOUT = timedelta(seconds=2)
# `after` past any log: the answer then carries the counters and no events.
COUNTERS_ONLY = 1 << 30


async def query_progress(client: Client, workflow_id: str, after: int) -> ProgressView | None:
    """One page of the running workflow's log after `after`; None when no worker can answer now."""
    try:
        return await client.get_workflow_handle(workflow_id).query(
            PROGRESS_QUERY, after, result_type=ProgressView, rpc_timeout=QUERY_TIMEOUT
        )
    except (RPCError, WorkflowQueryFailedError, WorkflowQueryRejectedError):
        return None  # the read degrades to "no progress" rather than failing


async def run_progress(
    client: Client, record: RunRecord, store: BlobStore, *, after: int = 0
) -> ProgressView | None:
    """The state, counters and every event after `after`; None when nobody can tell right now."""
    ended = await _ended_progress(record, store, after)
    if ended is not None:
        return ended
    view = await query_progress(client, record.workflow_id, after)
    if view is None:
        return None
    if after < COUNTERS_ONLY:
        events = list(view.events)
        while events and events[-1].seq < view.version:
            page = await query_progress(client, record.workflow_id, events[-1].seq)
            if page is None or not page.events:
                break
            view = page
            events += page.events
        view = view.model_copy(update={"events": events})
    if view.state.is_terminal:
        return view
    # A batch run by a batch workflow: its live counts, which the run's own log does not hold.
    return view.model_copy(
        update={"counters": await live_counters(client, record.workflow_id, view.counters)}
    )


async def _ended_progress(record: RunRecord, store: BlobStore, after: int) -> ProgressView | None:
    end = record.end
    if end is None or end.progress is None:
        return None  # running, or ended by Temporal itself (terminated): the query may still answer
    if end.progress_ref is None or after >= COUNTERS_ONLY:
        return end.progress.model_copy(update={"events": end.progress.events[max(after, 0) :]})
    try:
        raw = await run_in_threadpool(store.get, end.progress_ref)
    except BlobNotFoundError:
        return end.progress  # the counters, without the events storage lost
    stored = ProgressView.model_validate_json(raw)
    return stored.model_copy(update={"events": stored.events[max(after, 0) :]})
