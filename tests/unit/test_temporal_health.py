"""`TemporalHealth`: refuses only after a probe failed, shares one probe, lets requests through as soon
as a probe answers; `is_unreachable` reads gRPC UNAVAILABLE only."""

from __future__ import annotations

import asyncio

from temporalio.service import RPCError, RPCStatusCode

from api.temporal_health import TemporalHealth, is_unreachable


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Temporal:
    """A probe target: answers while `up`, else fails as a refused connection does; counts the probes."""

    def __init__(self) -> None:
        self.up = False
        self.asked = 0
        self.gate: asyncio.Event | None = None

    async def probe(self) -> None:
        self.asked += 1
        if self.gate is not None:
            await self.gate.wait()
        if not self.up:
            raise unavailable()


def unavailable() -> RPCError:
    return RPCError("tcp connect error", RPCStatusCode.UNAVAILABLE, b"")


def test_only_unavailable_reads_as_unreachable() -> None:
    assert is_unreachable(unavailable())
    assert not is_unreachable(RPCError("deadline", RPCStatusCode.DEADLINE_EXCEEDED, b""))
    assert not is_unreachable(RPCError("exhausted", RPCStatusCode.RESOURCE_EXHAUSTED, b""))
    wrapped = RuntimeError("503")
    wrapped.__cause__ = unavailable()
    assert is_unreachable(wrapped)


async def test_nothing_is_refused_or_probed_while_temporal_is_not_known_down() -> None:
    temporal = Temporal()
    health = TemporalHealth(temporal.probe)
    assert await health.reachable()
    assert (temporal.asked, health.refusals) == (0, 0)


async def test_known_down_a_failed_probe_refuses_then_its_verdict_stands_for_the_interval() -> None:
    temporal, clock = Temporal(), Clock()
    health = TemporalHealth(temporal.probe, recheck_interval=0.5, clock=clock)
    health.note_unreachable()
    assert health.down_since is not None
    assert not await health.reachable()  # the probe failed
    assert not await health.reachable()  # within the interval: refused with no probe
    assert (temporal.asked, health.refusals) == (1, 2)

    temporal.up = True
    clock.now += 0.5
    assert await health.reachable()  # the next probe answers: through, and no longer down
    assert health.down_since is None
    assert await health.reachable()
    assert temporal.asked == 2


async def test_requests_in_flight_share_one_probe() -> None:
    temporal = Temporal()
    temporal.gate = asyncio.Event()
    health = TemporalHealth(temporal.probe)
    health.note_unreachable()
    waiting = [asyncio.create_task(health.reachable()) for _ in range(5)]
    await asyncio.sleep(0)
    temporal.up = True
    temporal.gate.set()
    assert await asyncio.gather(*waiting) == [True] * 5
    assert temporal.asked == 1


async def test_a_probe_that_never_answers_is_a_failure_within_its_timeout() -> None:
    async def silent() -> None:
        await asyncio.Event().wait()

    health = TemporalHealth(silent, probe_timeout=0.01)
    health.note_unreachable()
    assert not await health.reachable()
    assert health.probes == 1


async def test_an_answered_call_ends_the_outage() -> None:
    temporal = Temporal()
    health = TemporalHealth(temporal.probe)
    health.note_unreachable()
    assert not await health.reachable()
    health.note_reachable()
    assert await health.reachable()


async def test_a_slow_call_has_temporal_probed_and_only_an_unreachable_one_marked_down() -> None:
    temporal, clock = Temporal(), Clock()
    health = TemporalHealth(temporal.probe, recheck_interval=0.5, clock=clock)
    health.suspect()
    health.suspect()  # once per interval
    await asyncio.sleep(0.01)
    assert temporal.asked == 1
    assert health.down_since is not None  # refused: unreachable
    assert not await health.reachable()  # the probe's verdict stands: no second probe
    assert temporal.asked == 1


async def test_a_slow_probe_after_a_slow_call_marks_nothing_down() -> None:
    async def loaded() -> None:
        await asyncio.Event().wait()

    health = TemporalHealth(loaded, probe_timeout=0.01)
    health.suspect()
    await asyncio.sleep(0.05)
    assert health.probes == 1
    assert health.down_since is None
    assert await health.reachable()
