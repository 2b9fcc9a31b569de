"""A tenant's ledger (issue 19, per-tenant limits): calls in flight, the day's spend, usage per day and
pipe. Pure, no Temporal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.runs.budget_io import CallEstimate
from shared.runs.tenant_budget_io import (
    USAGE_DAYS_KEPT,
    TenantAnswer,
    TenantAsk,
    TenantLedgerStart,
    TenantLimits,
    TenantSettle,
)
from shared.runs.tenant_ledger import TenantLedger

NOON = datetime(2026, 12, 3, 12, tzinfo=UTC)


def ask(
    reservation_id: str,
    cost: float,
    *,
    pipe: str = "p",
    per_day: float | None = None,
    at_once: int | None = None,
) -> TenantAsk:
    return TenantAsk(
        reservation_id=reservation_id,
        pipe=pipe,
        estimate=CallEstimate(input_tokens=5, output_tokens=5, cost_usd=cost),
        expires_in_seconds=60,
        limits=TenantLimits(max_cost_per_day_usd=per_day, max_concurrent_calls=at_once),
    )


def answered(ledger: TenantLedger, asked: TenantAsk, now: datetime = NOON) -> TenantAnswer:
    answer = ledger.reserve(asked, now)
    assert answer is not None, "the ledger asked to wait"
    return answer


def test_a_tenant_at_its_concurrency_limit_waits_until_a_call_settles() -> None:
    ledger = TenantLedger(TenantLedgerStart(tenant_key="t"))
    assert answered(ledger, ask("a", 0.1, at_once=2)).granted
    assert answered(ledger, ask("b", 0.1, at_once=2)).granted
    assert ledger.reserve(ask("c", 0.1, at_once=2), NOON) is None
    ledger.settle(TenantSettle(reservation_id="a", cost_usd=0.05, tokens=3), NOON)
    assert answered(ledger, ask("c", 0.1, at_once=2)).granted


def test_the_days_spend_refuses_a_call_it_cannot_cover_and_a_new_day_starts_afresh() -> None:
    ledger = TenantLedger(TenantLedgerStart(tenant_key="t"))
    assert answered(ledger, ask("a", 0.6, per_day=1.0)).granted
    assert ledger.reserve(ask("b", 0.6, per_day=1.0), NOON) is None  # room once "a" settles
    ledger.settle(TenantSettle(reservation_id="a", cost_usd=0.5), NOON)
    refused = answered(ledger, ask("b", 0.6, per_day=1.0))
    assert (refused.granted, refused.limit, refused.spent, refused.day) == (False, 1.0, 0.5, "2026-12-03")
    assert answered(ledger, ask("b", 0.6, per_day=1.0), NOON + timedelta(days=1)).granted


def test_usage_counts_each_settled_call_per_day_and_pipe_once() -> None:
    ledger = TenantLedger(TenantLedgerStart(tenant_key="t"))
    for reservation_id, pipe in [("a", "greet"), ("b", "greet"), ("c", "draw")]:
        answered(ledger, ask(reservation_id, 0.1, pipe=pipe))
        ledger.settle(TenantSettle(reservation_id=reservation_id, cost_usd=0.02, tokens=4), NOON)
    ledger.settle(TenantSettle(reservation_id="a", cost_usd=0.02, tokens=4), NOON)  # seen twice
    (day,) = ledger.usage().days
    assert (day.day, day.model_calls, day.tokens, day.cost_usd) == ("2026-12-03", 3, 12, 0.06)
    assert (day.pipes["greet"].model_calls, day.pipes["draw"].cost_usd) == (2, 0.02)
    assert ledger.usage().calls_in_flight == 0


def test_a_dead_calls_reservation_lapses_and_only_so_many_days_are_kept() -> None:
    ledger = TenantLedger(TenantLedgerStart(tenant_key="t"))
    assert answered(ledger, ask("dead", 0.1, at_once=1)).granted
    later = NOON + timedelta(seconds=61)
    assert answered(ledger, ask("next", 0.1, at_once=1), later).granted
    ledger.settle(TenantSettle(reservation_id="dead", cost_usd=0.01), later)  # late, still counted
    assert ledger.usage().days[0].model_calls == 1
    for offset in range(USAGE_DAYS_KEPT + 5):
        ledger.settle(TenantSettle(reservation_id="next"), NOON)  # only the first counts
        day = NOON + timedelta(days=offset)
        answered(ledger, ask(f"d{offset}", 0.0), day)
        ledger.settle(TenantSettle(reservation_id=f"d{offset}"), day)
    days = ledger.usage().days
    assert len(days) == USAGE_DAYS_KEPT
    assert days[-1].day == (NOON + timedelta(days=USAGE_DAYS_KEPT + 4)).date().isoformat()


def test_the_carried_ledger_is_the_same_ledger() -> None:
    ledger = TenantLedger(TenantLedgerStart(tenant_key="t"))
    answered(ledger, ask("a", 0.1))
    ledger.settle(TenantSettle(reservation_id="a", cost_usd=0.03, tokens=2), NOON)
    answered(ledger, ask("b", 0.1))
    carried = TenantLedger(TenantLedgerStart.model_validate_json(ledger.carry().model_dump_json()))
    assert carried.usage() == ledger.usage()
    assert carried.reserve(ask("c", 0.1, at_once=1), NOON) is None
