"""One tenant's ledger: its model calls in flight against `max_concurrent_calls`, its spend per UTC day
against `max_cost_per_day_usd`, and the per-day, per-pipe totals `GET /v1/usage` answers. Pure: the
tenant's ledger workflow owns one and hands it the workflow's clock.

As in a run's ledger (`budget_ledger.py`), a call reserves its worst case first, so that today's
spend plus what calls in flight hold never passes the daily limit; a call that finds the tenant at its
concurrency limit, or today's room taken only by calls in flight, is told to ask again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from shared.runs.budget_io import HeldReservation
from shared.runs.tenant_budget_io import (
    USAGE_DAYS_KEPT,
    DaySpend,
    PipeSpend,
    TenantAnswer,
    TenantAsk,
    TenantLedgerStart,
    TenantSettle,
    TenantUsage,
)

_PRECISION: Final = 10
_LAPSED_KEPT: Final = 1000


def day_of(now: datetime) -> str:
    """The UTC day `now` falls in, as `YYYY-MM-DD`."""
    return now.date().isoformat()


class TenantLedger:
    """The spend and calls in flight of one tenant."""

    def __init__(self, start: TenantLedgerStart) -> None:
        self.tenant_key = start.tenant_key
        self.days: dict[str, DaySpend] = {day.day: day for day in start.days}
        self.held: dict[str, HeldReservation] = dict(start.held)
        self.lapsed: dict[str, str] = dict(start.lapsed)
        # Moves whenever a waiting reservation may now be answered: a settle, a lapse.
        self.version = 0

    def reserve(self, ask: TenantAsk, now: datetime) -> TenantAnswer | None:
        """Granted, refused (today's spend leaves no room for the call), or None: ask again later."""
        self.expire(now.timestamp())
        if ask.reservation_id in self.held:
            return TenantAnswer(granted=True)
        limits = ask.limits
        if limits.max_concurrent_calls is not None and len(self.held) >= limits.max_concurrent_calls:
            return None
        today = day_of(now)
        spent = self.days[today].cost_usd if today in self.days else 0.0
        held = round(sum(item.cost_usd for item in self.held.values()), _PRECISION)
        limit = limits.max_cost_per_day_usd
        if limit is not None and round(spent + ask.estimate.cost_usd, _PRECISION) > limit:
            return TenantAnswer(
                granted=False, limit=limit, spent=spent, reserved=held, day=today, estimate=ask.estimate
            )
        if limit is not None and round(spent + held + ask.estimate.cost_usd, _PRECISION) > limit:
            return None
        self.held[ask.reservation_id] = HeldReservation(
            pipe=ask.pipe,
            cost_usd=ask.estimate.cost_usd,
            tokens=ask.estimate.tokens,
            deadline=now.timestamp() + ask.expires_in_seconds,
        )
        return TenantAnswer(granted=True)

    def settle(self, settled: TenantSettle, now: datetime) -> None:
        """Release the call's reservation and count what it cost, today, under its pipe."""
        held = self.held.pop(settled.reservation_id, None)
        if held is not None:
            pipe = held.pipe
        elif settled.reservation_id in self.lapsed:
            pipe = self.lapsed.pop(settled.reservation_id)
        else:
            return  # settled already
        self.version += 1
        today = day_of(now)
        day = self.days.get(today) or DaySpend(day=today)
        before = day.pipes.get(pipe) or PipeSpend()
        pipes = {
            **day.pipes,
            pipe: PipeSpend(
                cost_usd=round(before.cost_usd + settled.cost_usd, _PRECISION),
                tokens=before.tokens + settled.tokens,
                model_calls=before.model_calls + 1,
            ),
        }
        self.days[today] = DaySpend(
            day=today,
            cost_usd=round(day.cost_usd + settled.cost_usd, _PRECISION),
            tokens=day.tokens + settled.tokens,
            model_calls=day.model_calls + 1,
            pipes=pipes,
        )
        for old in sorted(self.days)[:-USAGE_DAYS_KEPT]:
            del self.days[old]

    def expire(self, now: float) -> None:
        """Drop the reservations of attempts past their deadline (dead: Temporal timed them out)."""
        for reservation_id, held in list(self.held.items()):
            if held.deadline < now:
                del self.held[reservation_id]
                self.lapsed[reservation_id] = held.pipe
                self.version += 1
        for reservation_id in list(self.lapsed)[:-_LAPSED_KEPT]:
            del self.lapsed[reservation_id]

    def next_deadline(self) -> float | None:
        return min((held.deadline for held in self.held.values()), default=None)

    def usage(self) -> TenantUsage:
        return TenantUsage(days=[self.days[day] for day in sorted(self.days)], calls_in_flight=len(self.held))

    def carry(self) -> TenantLedgerStart:
        return TenantLedgerStart(
            tenant_key=self.tenant_key,
            days=[self.days[day] for day in sorted(self.days)],
            held=dict(self.held),
            lapsed=dict(self.lapsed),
        )
