"""The pooled event loops of synchronous sweeps: reused, isolated between callers, clean after failures."""

from __future__ import annotations

import asyncio
import threading

import pytest

from shared.runtime.loop_pool import LoopPool


async def _current_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def test_a_loop_is_reused_by_the_next_call() -> None:
    pool = LoopPool()
    try:
        assert pool.run(_current_loop()) is pool.run(_current_loop())
    finally:
        pool.close()


def test_a_failure_propagates_and_its_orphan_tasks_never_wake_in_the_next_run() -> None:
    pool = LoopPool()
    woke: list[str] = []
    orphans: list[asyncio.Future[None]] = []

    async def orphan() -> None:
        await asyncio.sleep(0.05)
        woke.append("orphan")

    async def failing() -> None:
        orphans.append(asyncio.ensure_future(orphan()))
        await asyncio.sleep(0)
        message = "boom"
        raise ValueError(message)

    async def later() -> None:
        await asyncio.sleep(0.1)

    try:
        with pytest.raises(ValueError, match="boom"):
            pool.run(failing())
        pool.run(later())
        assert woke == []
    finally:
        pool.close()


def test_concurrent_callers_on_threads_each_borrow_their_own_loop() -> None:
    pool = LoopPool()
    barrier = threading.Barrier(3)
    seen: list[asyncio.AbstractEventLoop] = []

    async def meet() -> asyncio.AbstractEventLoop:
        await asyncio.to_thread(barrier.wait, 5)  # all three runs are inside their loops at once
        return asyncio.get_running_loop()

    def call() -> None:
        seen.append(pool.run(meet()))

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    try:
        assert len(seen) == 3
        assert len({id(loop) for loop in seen}) == 3
    finally:
        pool.close()


def test_close_closes_the_idle_loops() -> None:
    pool = LoopPool()
    loop = pool.run(_current_loop())
    pool.close()
    assert loop.is_closed()
