"""Runs many jobs with at most N at once, creating a task only when a slot frees. Pure: plain asyncio.

A batch of 10,000 items used to become 10,000 tasks at once, each waiting on a semaphore: created and
stepped in one workflow activation, they alone could hold Temporal's 2 s deadlock detector under load.
Here at most `limit` tasks exist: the first `limit` jobs start in order, then the next one each time a
job ends, queued where a semaphore release woke the next waiting task. Deterministic like any asyncio
code under Temporal's loop; the committed histories still replay (tests/integration/test_replay.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

_T = TypeVar("_T")


async def run_bounded(jobs: Iterable[Callable[[], Awaitable[_T]]], limit: int) -> list[_T]:
    """Run `jobs` with at most `limit` running at once; results in job order.

    On the first failure (or when cancelled) the running jobs are cancelled and no other job starts.
    """
    pending = iter(jobs)
    results: dict[int, _T] = {}
    # The running tasks only, in start order (a dict: cancels go out in that order, deterministically).
    # Ended tasks are let go: a pool of 10,000 jobs holds `limit` tasks, not 10,000.
    live: dict[asyncio.Future[None], None] = {}
    finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    started, running, exhausted, stopping = 0, 0, False, False

    def start_next() -> None:
        nonlocal started, running, exhausted
        job = None if stopping else next(pending, None)
        if job is None:
            exhausted = True
            return
        task = asyncio.ensure_future(run(started, job))
        started += 1
        live[task] = None
        running += 1
        task.add_done_callback(settled)

    async def run(index: int, job: Callable[[], Awaitable[_T]]) -> None:
        nonlocal stopping
        try:
            results[index] = await job()
        except BaseException:
            # A failed (or cancelled) job hands its slot to no one: the pool is ending, and a job started
            # now would run (a batch item's activity scheduled) before the failure is seen.
            stopping = True
            raise
        finally:
            # Where a semaphore's release wakes the next waiter: before this task's end is seen.
            start_next()

    def settled(task: asyncio.Future[None]) -> None:
        nonlocal running
        running -= 1
        live.pop(task, None)
        if finished.done():
            return
        if task.cancelled():
            finished.cancel()
        elif (error := task.exception()) is not None:
            finished.set_exception(error)
        elif exhausted and running == 0:
            finished.set_result(None)

    for _ in range(max(limit, 1)):
        start_next()
    if not started:
        return []
    try:
        await finished
    except BaseException:
        stopping = True
        for task in list(live):
            task.cancel()
        raise
    return [results[index] for index in range(started)]
