"""`ProgressCache`: bounded by runs and by events, never goes back to an older answer, re-asks an
unanswered run at most once per interval and one query at a time."""

from __future__ import annotations

import asyncio

from api.progress_cache import ProgressCache
from shared.runs.run_states import RunState
from shared.runs.workflow_io import ProgressCounters, ProgressEvent, ProgressView


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def view(done: int, events: int = 0) -> ProgressView:
    return ProgressView(
        state=RunState.RUNNING,
        version=done,
        counters=ProgressCounters(pipes_total=9, pipes_done=done),
        events=[
            ProgressEvent(seq=seq, at="t", event="pipe.finished", data={}) for seq in range(1, events + 1)
        ],
    )


def test_an_answer_older_than_the_last_is_not_remembered() -> None:
    cache = ProgressCache()
    cache.remember("run", view(4), every_event=False)
    cache.note_unanswered("run")
    cache.remember("run", view(2), every_event=False)
    known = cache.get("run")
    assert known is not None
    assert known.counters is not None
    assert known.counters.counters.pipes_done == 4
    assert known.unanswered_at is None  # an answer came all the same
    assert known.as_of is not None


def test_the_least_recently_read_runs_and_events_go_first() -> None:
    cache = ProgressCache(max_runs=2, max_events=10)
    cache.remember("a", view(1, events=6), every_event=True)
    cache.remember("b", view(1, events=6), every_event=True)
    a = cache.get("a")
    b = cache.get("b")
    assert a is not None
    assert b is not None
    assert a.events is None  # over 10 events: the older read's events went, its counters stay
    assert a.counters is not None
    assert b.events is not None
    cache.get("a")  # read: now the most recent
    cache.remember("c", view(1), every_event=False)
    assert cache.get("b") is None
    assert cache.get("a") is not None
    cache.forget("a")
    assert cache.get("a") is None


async def test_an_unanswered_run_is_asked_again_once_per_interval_one_query_at_a_time() -> None:
    clock = Clock()
    cache = ProgressCache(recheck_interval=2, clock=clock)
    cache.remember("run", view(3), every_event=False)
    cache.note_unanswered("run")
    asked: list[int] = []
    answer: asyncio.Future[ProgressView | None] = asyncio.get_running_loop().create_future()

    async def ask() -> ProgressView | None:
        asked.append(1)
        return await answer

    cache.ask_in_background("run", ask, every_event=False)  # within the interval: not yet
    assert cache.reads_without_query == 1
    await asyncio.sleep(0)
    assert asked == []

    clock.now += 2
    cache.ask_in_background("run", ask, every_event=False)
    cache.ask_in_background("run", ask, every_event=False)  # one already asking
    await asyncio.sleep(0)
    assert asked == [1]
    answer.set_result(view(5))
    for _ in range(3):
        await asyncio.sleep(0)
    known = cache.get("run")
    assert known is not None
    assert known.unanswered_at is None
    assert known.counters is not None
    assert known.counters.counters.pipes_done == 5
    assert known.asking is None
