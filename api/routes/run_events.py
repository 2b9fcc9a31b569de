"""`GET /v1/runs/{id}/events` (http-api.md §9.8): the run's progress log as Server-Sent Events.

The stream polls the workflow's progress query for events after the last one sent, so a resumed stream
(`Last-Event-ID` or `?after=`) replays exactly what the client missed. Once the run has ended and its
log is drained, a `run.finished` event (the callback body of §10.2) closes the stream. That event is not
in the workflow's log: its `seq` is one past the log's last, so a client resuming after it gets an
immediate close.

While a batch runs as a batch workflow, whose items the log does not count one by one, the stream also
sends `batch.progress` events made from that workflow's live counts: at most one a second per batch, only
when they changed, marked `"live": true` and sent without an `id:` line (they are not in the log, so
resuming never depends on them). The log's own `batch.progress` events, the batch's start and its final
counts, come as every logged event does.

When no worker can answer the query (all down), the stream keeps its connection with keep-alives and
watches the run record, so it still ends with `run.finished` when the run does.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client

from api.auth import Caller
from api.batch_progress import LiveBatchEvents
from api.deps import CallerDep, GatewayDep, SettingsDep, public_origin
from api.problems import ProblemError, request_invalid
from api.run_bodies import working_memory_of
from api.run_progress import query_progress, run_progress
from api.run_records import RunRecord, owned_run, read_run
from shared.runs.finished_event import FINISHED_EVENT, finished_event
from shared.runs.run_states import RunState
from shared.runs.workflow_io import ProgressEvent, RunEnd
from shared.storage.blob_store import BlobStore

router = APIRouter(tags=["runs"])

POLL_SECONDS = 0.25
BATCH_PROGRESS_EVENT = "batch.progress"
KEEP_ALIVE_SECONDS = 15.0
RECONNECT_MILLISECONDS = 2000
_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@router.get("/v1/runs/{run_id}/events")
async def run_events(
    run_id: str,
    request: Request,
    caller: CallerDep,
    gateway: GatewayDep,
    settings: SettingsDep,
    after: str | None = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """The events after the resume point, then live ones until the run ends."""
    resume = _resume_point(last_event_id, "Last-Event-ID") if last_event_id else _resume_point(after, "after")
    client = await gateway.client()
    record = await owned_run(client, run_id, caller)  # 404 is an ordinary answer, before the stream opens
    stream = _RunStream(
        client=client,
        caller=caller,
        run_id=run_id,
        result_url=f"{public_origin(request, settings)}/v1/runs/{run_id}/results",
        storage=settings.blob_store,
    )
    return StreamingResponse(stream.frames(resume, record), media_type="text/event-stream", headers=_HEADERS)


def _resume_point(text: str | None, field: str) -> int:
    if text is None:
        return 0
    if not text.isdigit() or len(text) > 12:
        raise request_invalid(field=field, reason="give the seq of the last event received, an integer ≥ 0.")
    return int(text)


class _RunStream:
    def __init__(
        self, *, client: Client, caller: Caller, run_id: str, result_url: str, storage: BlobStore
    ) -> None:
        self._client = client
        self._caller = caller
        self._run_id = run_id
        self._result_url = result_url
        self._storage = storage
        self._live = LiveBatchEvents()

    async def frames(self, after: int, record: RunRecord) -> AsyncIterator[str]:
        yield f"retry: {RECONNECT_MILLISECONDS}\n\n"
        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        try:
            while not record.state.is_terminal:
                view = await query_progress(self._client, record.workflow_id, after)
                for event in view.events if view is not None else []:
                    yield self._event(event)
                    after, quiet_since = event.seq, loop.time()
                if view is not None and after < view.version:
                    continue  # more pages are waiting
                if view is not None and not view.state.is_terminal:
                    live = await self._live.next_event(
                        self._client, record.workflow_id, view.counters, loop.time
                    )
                    if live is not None:
                        yield self._live_event(live, after)
                        quiet_since = loop.time()
                if view is None or view.state.is_terminal:
                    latest = await read_run(self._client, self._run_id, caller=self._caller)
                    if latest is None:
                        return
                    record = latest
                    if record.state.is_terminal:
                        continue
                if loop.time() - quiet_since >= KEEP_ALIVE_SECONDS:
                    yield ": keep-alive\n\n"
                    quiet_since = loop.time()
                await asyncio.sleep(POLL_SECONDS)
            # Ended: the rest of the log comes from the run's end (no worker, no replay needed).
            final = await run_progress(self._client, record, self._storage, after=after)
            for event in final.events if final is not None else []:
                yield self._event(event)
                after = event.seq
            yield await self._finished(record, after + 1)
        except ProblemError:
            return  # Temporal went away mid-stream: close; the client resumes with Last-Event-ID

    def _event(self, event: ProgressEvent) -> str:
        data = {"pipeline_run_id": self._run_id, "seq": event.seq, "at": event.at, **event.data}
        return _frame(event.seq, event.event, data)

    def _live_event(self, live: dict[str, Any], after: int) -> str:
        # Not in the log: no `id:` line, so a client's Last-Event-ID stays the log's last seq; `seq` is that
        # last seq (the event comes after it), `live` tells it from the log's own batch.progress events.
        data = {"pipeline_run_id": self._run_id, "seq": after, "at": live["at"], **live, "live": True}
        return _frame(None, BATCH_PROGRESS_EVENT, data)

    async def _finished(self, record: RunRecord, seq: int) -> str:
        # A run ended by Temporal itself (terminated, backstop timeout) has no RunEnd of its own.
        end = record.end or RunEnd(
            state=record.state, finished_at=record.finished_at or "", error=record.error
        )
        memory = None
        if end.state == RunState.COMPLETED:
            memory = await run_in_threadpool(working_memory_of, end, self._storage)
        body = finished_event(
            run_id=self._run_id,
            created_at=record.created_at,
            end=end,
            memory=memory,
            result_url=self._result_url,
        )
        return _frame(seq, FINISHED_EVENT, {**body, "seq": seq, "at": end.finished_at})


def _frame(seq: int | None, event: str, data: dict[str, Any]) -> str:
    compact = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    id_line = f"id: {seq}\n" if seq is not None else ""
    return f"{id_line}event: {event}\ndata: {compact}\n\n"
