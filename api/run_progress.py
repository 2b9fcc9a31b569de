"""A run's progress as the API reads it (http-api.md §9.4, §9.5, §9.8).

While the run goes on, the workflow's progress query answers, a page of events at a time, and the
counters of a batch running as a batch workflow are that workflow's live ones. Once it has
ended, the progress is in the run's end (its events stored when the log was large), so reading it needs
neither a worker nor a replay of the run.

When no worker answers the query, `read_progress` serves the run's last known progress, stale
(api/progress_cache.py): progress never goes back to zero, and such reads do not wait on the query.
`/status` and `/progress` then add, as a methodflow extension to their counters (`progress` of §9.4,
`counters` of §9.5), `"stale": true` and `"as_of"`: when that progress was read (null when this API
process never read it); the members are absent from a fresh answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from starlette.concurrency import run_in_threadpool
from temporalio.client import Client, WorkflowQueryFailedError, WorkflowQueryRejectedError
from temporalio.service import RPCError

from api.batch_progress import live_counters
from api.progress_cache import ProgressCache
from api.run_records import RunRecord
from shared.runs.names import PROGRESS_QUERY
from shared.runs.workflow_io import ProgressView
from shared.storage.blob_store import BlobNotFoundError, BlobStore

# A query waits for a worker to answer it; with none polling it would wait far longer than a read should.
QUERY_TIMEOUT = timedelta(seconds=2)
# With a last known progress to serve, a read waits less before serving it (a background query waits
# the whole QUERY_TIMEOUT for the next reads).
KNOWN_QUERY_TIMEOUT = timedelta(seconds=1)
# `after` past any log: the answer then carries the counters and no events.
COUNTERS_ONLY = 1 << 30


async def query_progress(
    client: Client, workflow_id: str, after: int, *, rpc_timeout: timedelta = QUERY_TIMEOUT
) -> ProgressView | None:
    """One page of the running workflow's log after `after`; None when no worker can answer now."""
    try:
        return await client.get_workflow_handle(workflow_id).query(
            PROGRESS_QUERY, after, result_type=ProgressView, rpc_timeout=rpc_timeout
        )
    except (RPCError, WorkflowQueryFailedError, WorkflowQueryRejectedError):
        return None  # the read degrades to "no progress" rather than failing


@dataclass(frozen=True, slots=True)
class ProgressReading:
    """What a read serves: `view` (None when nothing is known), `stale` when it is the last known
    progress rather than an answer of now, read at `as_of`."""

    view: ProgressView | None
    stale: bool = False
    as_of: str | None = None

    def marks(self) -> dict[str, object]:
        """The members a stale answer adds to its counters (none for a fresh one)."""
        return {"stale": True, "as_of": self.as_of} if self.stale else {}


async def read_progress(
    client: Client, record: RunRecord, store: BlobStore, known: ProgressCache, *, after: int = 0
) -> ProgressReading:
    """`run_progress`, or the run's last known progress (stale) when its worker does not answer."""
    ended = await _ended_progress(record, store, after)
    if ended is not None:
        known.forget(record.workflow_id)
        return ProgressReading(ended)
    every_event = after == 0
    last = known.get(record.workflow_id)
    if last is not None and last.unanswered_at is not None:

        async def ask() -> ProgressView | None:
            return await run_progress(client, record, store, after=after)

        known.ask_in_background(record.workflow_id, ask, every_event=every_event)
        return _stale(last.counters, last.events, last.as_of, after)
    wait = KNOWN_QUERY_TIMEOUT if last is not None and last.counters is not None else QUERY_TIMEOUT
    view = await run_progress(client, record, store, after=after, rpc_timeout=wait)
    if view is None:
        known.note_unanswered(record.workflow_id)
        if last is None:
            return ProgressReading(None, stale=True)
        return _stale(last.counters, last.events, last.as_of, after)
    known.remember(record.workflow_id, view, every_event=every_event)
    return ProgressReading(view)


def _stale(
    counters: ProgressView | None, events: ProgressView | None, as_of: str | None, after: int
) -> ProgressReading:
    """The last known progress: the last whole log's events (from `after`) under the newest counters."""
    if counters is None:
        return ProgressReading(None, stale=True)
    if after >= COUNTERS_ONLY or events is None:
        return ProgressReading(counters, stale=True, as_of=as_of)
    view = events.model_copy(update={"counters": counters.counters, "events": events.events[max(after, 0) :]})
    return ProgressReading(view, stale=True, as_of=as_of)


async def run_progress(
    client: Client,
    record: RunRecord,
    store: BlobStore,
    *,
    after: int = 0,
    rpc_timeout: timedelta = QUERY_TIMEOUT,
) -> ProgressView | None:
    """The state, counters and every event after `after`; None when nobody can tell right now."""
    ended = await _ended_progress(record, store, after)
    if ended is not None:
        return ended
    view = await query_progress(client, record.workflow_id, after, rpc_timeout=rpc_timeout)
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
