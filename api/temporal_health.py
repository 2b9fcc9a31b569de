"""What the API knows about reaching Temporal: whether it is down, since when, and one shared probe.

A call that finds Temporal unreachable (gRPC `UNAVAILABLE`: connection refused, transport error; or a
failed connect) marks it down, and so does a probe started when a call is slow (the SDK retries a
refused connection for ~10 s before it fails). While it is down, a request waits at most for one short probe shared by
every request in flight (`probe_timeout`); when that probe fails, the requests of the next
`recheck_interval` are refused at once, without the SDK's ~10 s of retries. The first probe that
answers lets requests through again. A slow answer never marks Temporal down (a loaded server is not
an unreachable one), and nothing is refused unless a probe has just failed, so a serving Temporal is
never refused.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from temporalio.service import RPCError, RPCStatusCode

# How long a failed probe's verdict stands: requests in that window are refused with no call at all.
RECHECK_INTERVAL_SECONDS = 0.5
# A probe is a namespace describe without retries: an answer takes milliseconds, a refused connection
# fails at once; this bounds the wait when packets go nowhere.
PROBE_TIMEOUT_SECONDS = 1.0


def is_unreachable(error: BaseException) -> bool:
    """Whether `error` (or what caused it) says Temporal cannot be reached, rather than that it refused
    or was slow: only then may requests be refused without trying."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, RPCError) and seen.status == RPCStatusCode.UNAVAILABLE:
            return True
        seen = seen.__cause__
    return False


class TemporalHealth:
    """Down or not, with the probe that re-checks; `probe` raises when Temporal does not answer."""

    def __init__(
        self,
        probe: Callable[[], Awaitable[object]],
        *,
        recheck_interval: float = RECHECK_INTERVAL_SECONDS,
        probe_timeout: float = PROBE_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._probe = probe
        self._recheck_interval = recheck_interval
        self._probe_timeout = probe_timeout
        self._clock = clock
        self.down_since: datetime | None = None  # wall clock, for the problem's params
        self._failed_probe_at: float | None = None
        self._suspected_at: float | None = None
        self._probing: asyncio.Task[bool] | None = None
        # Requests refused as Temporal is known down (no call of their own), and probes run: for tests
        # and operators (not yet exported by /metrics).
        self.refusals = 0
        self.probes = 0

    @property
    def is_down(self) -> bool:
        return self.down_since is not None

    def note_unreachable(self) -> None:
        if self.down_since is None:
            self.down_since = datetime.now(UTC)
            self._failed_probe_at = None  # a verdict from before the outage is not this one's

    def suspect(self) -> None:
        """A call is taking long (the SDK may be retrying a refused connection for ~10 s): probe in the
        background, at most once per `recheck_interval`; only an unreachable Temporal is marked down,
        so the requests after it are refused at once instead of waiting as the slow call does."""
        if self.down_since is not None or self._probing is not None:
            return
        if self._suspected_at is not None and self._clock() - self._suspected_at < self._recheck_interval:
            return
        self._suspected_at = self._clock()
        self._probing = asyncio.get_running_loop().create_task(self._run_probe())

    def note_reachable(self) -> None:
        if self.down_since is not None:
            self.down_since = None
            self._failed_probe_at = None

    async def reachable(self) -> bool:
        """True when a request may go to Temporal: it is not known down, or a probe answers now.

        False without any call while a failed probe's verdict stands (`recheck_interval`).
        """
        if self.down_since is None:
            return True
        if self._probing is None:
            failed_at = self._failed_probe_at
            if failed_at is not None and self._clock() - failed_at < self._recheck_interval:
                self.refusals += 1
                return False
            self._probing = asyncio.create_task(self._run_probe())
        # Shielded: a request that goes away does not cancel the probe the others wait for.
        answered = await asyncio.shield(self._probing)
        if not answered:
            self.refusals += 1
        return answered

    async def _run_probe(self) -> bool:
        self.probes += 1
        try:
            await asyncio.wait_for(self._probe(), self._probe_timeout)
        except (RPCError, TimeoutError, OSError, RuntimeError) as exc:
            if is_unreachable(exc):
                self.note_unreachable()  # a slow answer is not enough: a loaded Temporal is not down
            self._failed_probe_at = self._clock()
            return False
        finally:
            self._probing = None
        self.note_reachable()
        return True
