"""`run_bounded`: at most N tasks at once, results in job order, failures cancel the rest."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from shared.runtime.job_pool import run_bounded


async def test_never_more_tasks_than_the_limit() -> None:
    # The point of the pool: a batch of thousands never creates thousands of tasks at once.
    baseline = len(asyncio.all_tasks())
    seen: list[int] = []

    def job(number: int) -> Callable[[], Awaitable[int]]:
        async def run() -> int:
            seen.append(len(asyncio.all_tasks()) - baseline)
            await asyncio.sleep(0)
            return number

        return run

    results = await run_bounded((job(number) for number in range(10_000)), 8)
    assert results == list(range(10_000))
    assert max(seen) <= 8


async def test_jobs_start_in_order_and_results_keep_it() -> None:
    started: list[int] = []

    def job(number: int, pauses: int) -> Callable[[], Awaitable[str]]:
        async def run() -> str:
            started.append(number)
            for _ in range(pauses):
                await asyncio.sleep(0)
            return f"r{number}"

        return run

    pauses = [5, 0, 3, 1, 0, 4, 2, 0, 1, 0]
    results = await run_bounded([job(number, count) for number, count in enumerate(pauses)], 3)
    assert results == [f"r{number}" for number in range(10)]
    assert started == list(range(10))


async def test_no_jobs_and_a_limit_of_one() -> None:
    assert await run_bounded([], 8) == []

    async def one() -> int:
        return 1

    assert await run_bounded([one, one, one], 1) == [1, 1, 1]


async def test_the_first_failure_cancels_the_running_jobs_and_starts_no_other() -> None:
    cancelled: list[int] = []
    started: list[int] = []

    def job(number: int) -> Callable[[], Awaitable[int]]:
        async def run() -> int:
            started.append(number)
            if number == 1:
                msg = "item 1 failed"
                raise ValueError(msg)
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.append(number)
                raise
            return number

        return run

    with pytest.raises(ValueError, match="item 1 failed"):
        await run_bounded([job(number) for number in range(100)], 3)
    await asyncio.sleep(0)
    # The failed job's slot goes to no one: job 3 never starts.
    assert started == [0, 1, 2]
    assert sorted(cancelled) == [0, 2]


async def test_cancelling_the_pool_cancels_its_jobs() -> None:
    cancelled: list[int] = []

    def job(number: int) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.append(number)
                raise

        return run

    pool = asyncio.ensure_future(run_bounded([job(number) for number in range(10)], 4))
    await asyncio.sleep(0)
    pool.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pool
    assert sorted(cancelled) == [0, 1, 2, 3]
