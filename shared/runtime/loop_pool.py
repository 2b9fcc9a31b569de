"""Event loops kept between synchronous calls that run a short coroutine to its end.

Validation runs its dry-run sweep (the interpreter, which is async) from synchronous code, once per
validate request. `asyncio.run` builds and closes a fresh loop each time, and that alone was a third
of the API's CPU under `/v1/validate` load (profiled 2026-12-03: the selector, the self-pipe
socketpair and their closing). Here a loop is borrowed from a pool, runs the coroutine and whatever
it left pending is cancelled and drained (as `asyncio.run` does), then it goes back. Loops are not
tied to threads, so the API's short-lived worker threads never drop one unclosed; every pooled loop
is closed at interpreter exit.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

_T = TypeVar("_T")


class LoopPool:
    """Idle event loops, one borrowed per concurrent `run`; thread-safe."""

    def __init__(self) -> None:
        self._idle: list[asyncio.AbstractEventLoop] = []
        self._lock = threading.Lock()

    def run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        """Run `coroutine` to its end on a pooled loop; the caller's thread must not be running a loop."""
        loop = self._borrow()
        try:
            return loop.run_until_complete(coroutine)
        finally:
            self._give_back(loop)

    def close(self) -> None:
        """Close every idle loop (at exit: nothing is running then)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for loop in idle:
            loop.close()

    def _borrow(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return asyncio.new_event_loop()

    def _give_back(self, loop: asyncio.AbstractEventLoop) -> None:
        leftovers = asyncio.all_tasks(loop)
        if leftovers:
            # Only a failure leaves tasks behind; they must not wake up inside the next caller's run.
            for task in leftovers:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
        if loop.is_closed():
            return
        with self._lock:
            self._idle.append(loop)


SHARED_LOOPS = LoopPool()
atexit.register(SHARED_LOOPS.close)
