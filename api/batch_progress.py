"""Live counts of a batch that runs as a batch workflow, laid over the run's own counters
(docs/design/large-batches.md, "Failures, cancel, progress").

The run's progress log records such a batch's start and, once it has ended, its final counts: nothing in
between. While it runs, its batch workflow's `batch_progress` query answers exact counts across its chunks
and its histories. A read asks it at most once; when it cannot answer (not started yet, an inline batch
that has no batch workflow, no worker free in time) the run's own counters stand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import Client, WorkflowQueryFailedError, WorkflowQueryRejectedError
from temporalio.service import RPCError

from shared.runs.batch_io import BatchProgress
from shared.runs.names import BATCH_PROGRESS_QUERY, batch_workflow_id
from shared.runs.timestamps import rfc3339
from shared.runs.workflow_io import ProgressCounters
from shared.runtime.batch_plan import PROGRESS_EVENT_INTERVAL_SECONDS, batch_key

# Shorter than the run's own query: live counts are a bonus, and a read should not wait long for them.
LIVE_QUERY_TIMEOUT = timedelta(seconds=1)


def open_batch(counters: ProgressCounters) -> dict[str, Any] | None:
    """The batch the counters name when it may still be counting (its items are not all settled)."""
    batch = counters.batch
    if batch is None or not isinstance(batch.get("path"), str):
        return None
    if batch.get("done", 0) + batch.get("failed", 0) >= batch.get("total", 0):
        return None  # settled: nothing to learn, and a query on a closed workflow replays its history
    return batch


async def query_batch(client: Client, run_workflow_id: str, batch_path: str) -> BatchProgress | None:
    """The batch workflow's counts; None when it cannot tell right now (or there is no such workflow)."""
    handle = client.get_workflow_handle(batch_workflow_id(run_workflow_id, batch_key(batch_path)))
    try:
        # A batch workflow not yet set up answers null (the binary/null payload decodes to None).
        live: BatchProgress | None = await handle.query(
            BATCH_PROGRESS_QUERY, result_type=BatchProgress, rpc_timeout=LIVE_QUERY_TIMEOUT
        )
    except (RPCError, WorkflowQueryFailedError, WorkflowQueryRejectedError):
        return None
    return live if live is not None and live.batch_path == batch_path else None


def with_live(batch: dict[str, Any], live: BatchProgress) -> dict[str, Any]:
    """The batch counters with the batch workflow's counts (`in_flight`: items of the chunks running)."""
    return {**batch, "done": live.done, "failed": live.failed, "running": live.in_flight}


async def live_counters(client: Client, run_workflow_id: str, counters: ProgressCounters) -> ProgressCounters:
    """The run's counters, with its open batch's live counts when its batch workflow answers."""
    batch = open_batch(counters)
    if batch is None:
        return counters
    live = await query_batch(client, run_workflow_id, batch["path"])
    if live is None:
        return counters
    return counters.model_copy(update={"batch": with_live(batch, live)})


@dataclass
class LiveBatchEvents:
    """Paces the `batch.progress` events an event stream makes from live counts: per batch, it asks at
    most once per `interval` and sends at most one event per `interval`, only when the counts changed."""

    interval: float = PROGRESS_EVENT_INTERVAL_SECONDS
    _asked_at: dict[str, float] = field(default_factory=dict[str, float])
    _sent_at: dict[str, float] = field(default_factory=dict[str, float])
    _sent: dict[str, tuple[Any, ...]] = field(default_factory=dict[str, tuple[Any, ...]])

    async def next_event(
        self, client: Client, run_workflow_id: str, counters: ProgressCounters, clock: Callable[[], float]
    ) -> dict[str, Any] | None:
        """The data of the event to send now, or None; `clock` is monotonic seconds."""
        batch = open_batch(counters)
        if batch is None:
            return None
        path: str = batch["path"]
        last = max(self._asked_at.get(path, -self.interval), self._sent_at.get(path, -self.interval))
        if clock() - last < self.interval:
            return None
        self._asked_at[path] = clock()
        live = await query_batch(client, run_workflow_id, path)
        if live is None:
            return None
        data = with_live(batch, live)
        counts = (data["done"], data["failed"], data["running"])
        # The log's own event already told the counts it holds (at its start: nothing done yet).
        if counts == self._sent.get(
            path, (batch.get("done", 0), batch.get("failed", 0), batch.get("running", 0))
        ):
            return None
        # Sent after the query returned: each event is `interval` after the previous one was sent.
        self._sent_at[path], self._sent[path] = clock(), counts
        return {**data, "at": rfc3339(datetime.now(UTC))}
