"""Where a resumed batch's time went, read from its batch workflow's history (bench/resume.py).

Phases, in seconds from the run workflow's start: the batch workflow's start, the chunks answered from
the memo (`reuse_chunk` activities: first scheduled, last completed), the chunk workflows that ran
(first started, last closed) and the run's end. Printed, never asserted: it tells what to speed up.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

from shared.runs.chunk_reuse_io import REUSE_CHUNK_ACTIVITY
from shared.runs.names import batch_workflow_id
from shared.runtime.batch_plan import batch_key


def _seconds(event: HistoryEvent) -> float:
    return event.event_time.seconds + event.event_time.nanos / 1e9


@dataclass
class Span:
    """First start and last end of a kind of step, and how many there were."""

    count: int = 0
    first: float | None = None
    last: float | None = None

    def began(self, at: float) -> None:
        self.count += 1
        self.first = at if self.first is None else min(self.first, at)

    def ended(self, at: float) -> None:
        self.last = at if self.last is None else max(self.last, at)

    def text(self, origin: float) -> str:
        if self.first is None or self.last is None:
            return "none"
        return f"{self.count:3} from {self.first - origin:6.2f} s to {self.last - origin:6.2f} s"


@dataclass
class Timeline:
    batch_started: float | None = None
    reuses: Span = field(default_factory=Span)
    hits: int = 0
    reuse_workers: Counter[str] = field(default_factory=Counter[str])
    chunks: Span = field(default_factory=Span)


async def print_timeline(client: Client, run_workflow_id: str, batch_path: str) -> None:
    """Print the phases of the run `run_workflow_id`, whose batch is at invocation path `batch_path`."""
    run_events = [event async for event in client.get_workflow_handle(run_workflow_id).fetch_history_events()]
    origin, end = _seconds(run_events[0]), _seconds(run_events[-1])
    batch_id = batch_workflow_id(run_workflow_id, batch_key(batch_path))
    timeline = Timeline()
    reuse_ids: set[int] = set()
    async for execution in client.list_workflows(f'WorkflowId = "{batch_id}"'):
        handle = client.get_workflow_handle(batch_id, run_id=execution.run_id)
        async for event in handle.fetch_history_events():
            _note(timeline, reuse_ids, event)
    print(f"    batch workflow started   {_offset(timeline.batch_started, origin)}")
    print(f"    chunks from the memo     {timeline.reuses.text(origin)}  ({timeline.hits} answered whole)")
    workers = ", ".join(f"{count} on {identity}" for identity, count in timeline.reuse_workers.most_common())
    print(f"      by worker: {workers}")
    print(f"    chunk workflows          {timeline.chunks.text(origin)}")
    print(f"    run ended                {end - origin:6.2f} s")


def _note(timeline: Timeline, reuse_ids: set[int], event: HistoryEvent) -> None:
    at = _seconds(event)
    kind = event.event_type
    if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED and timeline.batch_started is None:
        timeline.batch_started = at
    elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        if event.activity_task_scheduled_event_attributes.activity_type.name == REUSE_CHUNK_ACTIVITY:
            reuse_ids.add(event.event_id)
            timeline.reuses.began(at)
    elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
        attributes = event.activity_task_started_event_attributes
        if attributes.scheduled_event_id in reuse_ids:
            timeline.reuse_workers[attributes.identity] += 1
    elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
        attributes = event.activity_task_completed_event_attributes
        if attributes.scheduled_event_id in reuse_ids:
            timeline.reuses.ended(at)
            # A hit answers the chunk's end; a miss answers an empty result.
            if any(b'"end":{' in payload.data for payload in attributes.result.payloads):
                timeline.hits += 1
    elif kind == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
        timeline.chunks.began(at)
    elif kind in (
        EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED,
        EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED,
        EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED,
    ):
        timeline.chunks.ended(at)


def _offset(at: float | None, origin: float) -> str:
    return "never" if at is None else f"{at - origin:6.2f} s"
