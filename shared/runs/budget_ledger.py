"""One budgeted run's ledger: reservations granted or refused against the run's budget, settled after
each call. Pure: the ledger workflow owns one and hands it the workflow's clock.

The invariant is `spent + held <= limit` for every limit the budget sets: a reservation is granted only
when its worst case fits beside everything spent and everything still held, and a settled call moves
its actual cost (never more than its worst case, see `worker/operators/call_budget.py`) from held to
spent. So spent never passes the limit, however many chunks ask at once: the workflow answers one
update at a time. A reservation that fits beside what is spent but not beside what calls in flight
hold is answered "ask again" (they usually cost far less than their worst case, and settle soon); one
that would not fit even if they cost nothing is refused at once.
"""

from __future__ import annotations

from typing import Final

from shared.runs.budget_io import (
    BudgetAnswer,
    BudgetAsk,
    BudgetSettle,
    BudgetSpend,
    HeldReservation,
    RunBudgetStart,
)
from shared.runs.workflow_io import RunBudget

_PRECISION: Final = 10  # USD decimals kept, as usage records round theirs
# Lapsed reservation ids remembered so that a late settle still counts its call (a few per dead attempt).
_LAPSED_KEPT: Final = 1000


class BudgetLedger:
    """The spend of one run against its `RunBudget`."""

    def __init__(self, start: RunBudgetStart) -> None:
        self.run_id = start.run_id
        self.budget = start.budget
        self.spent_cost = start.spent_cost_usd
        self.spent_tokens = start.spent_tokens
        self.calls = start.calls
        self.held: dict[str, HeldReservation] = dict(start.held)
        self.lapsed: list[str] = list(start.lapsed)
        self.refusal = start.refusal
        # Moves whenever a waiting reservation may now be answered: a settle, a lapse, a refusal.
        self.version = 0

    def reserve(self, ask: BudgetAsk, now: float) -> BudgetAnswer | None:
        """Grant `ask` when its worst case fits beside what is spent and held; refuse it (and every
        reservation after it, with the same answer) when it would not fit even if every call in flight
        cost nothing; else None: it may fit once calls in flight settle, so ask again later."""
        self.expire(now)
        if ask.reservation_id in self.held:
            return BudgetAnswer(granted=True)
        if self.refusal is not None:
            return self.refusal  # the refusal that stopped the run: every later one names it
        refusal = self._refusal(ask, with_held=False)
        if refusal is not None:
            self.refusal = refusal
            self.version += 1
            return refusal
        if self._refusal(ask, with_held=True) is not None:
            return None
        self.held[ask.reservation_id] = HeldReservation(
            pipe=ask.pipe,
            cost_usd=ask.estimate.cost_usd,
            tokens=ask.estimate.tokens,
            deadline=now + ask.expires_in_seconds,
        )
        return BudgetAnswer(granted=True)

    def next_deadline(self) -> float | None:
        """When the first held reservation lapses (None when nothing is held)."""
        return min((held.deadline for held in self.held.values()), default=None)

    def settle(self, settled: BudgetSettle) -> None:
        """Release the call's reservation and count what it actually cost. A reservation that lapsed
        still counts when its call settles after all; a settle seen twice counts once."""
        if self.held.pop(settled.reservation_id, None) is None:
            if settled.reservation_id not in self.lapsed:
                return
            self.lapsed.remove(settled.reservation_id)
        self.version += 1
        self.spent_cost = round(self.spent_cost + settled.cost_usd, _PRECISION)
        self.spent_tokens += settled.tokens
        self.calls += 1

    def expire(self, now: float) -> None:
        """Drop the reservations of attempts past their deadline: they are dead (Temporal timed them out),
        and what they held would otherwise stay held for the rest of the run."""
        for reservation_id, held in list(self.held.items()):
            if held.deadline < now:
                del self.held[reservation_id]
                self.lapsed.append(reservation_id)
                self.version += 1
        del self.lapsed[:-_LAPSED_KEPT]

    def spend(self) -> BudgetSpend:
        return BudgetSpend(
            budget=self.budget,
            spent_cost_usd=self.spent_cost,
            spent_tokens=self.spent_tokens,
            reserved_cost_usd=self._held_cost(),
            reserved_tokens=self._held_tokens(),
            calls=self.calls,
        )

    def carry(self) -> RunBudgetStart:
        """The ledger as the input of its next history (continue-as-new)."""
        return RunBudgetStart(
            run_id=self.run_id,
            budget=self.budget,
            spent_cost_usd=self.spent_cost,
            spent_tokens=self.spent_tokens,
            calls=self.calls,
            held=dict(self.held),
            lapsed=list(self.lapsed),
            refusal=self.refusal,
        )

    def _refusal(self, ask: BudgetAsk, *, with_held: bool) -> BudgetAnswer | None:
        """The refusal `ask` gets against what is spent (and, `with_held`, held); None when it fits."""
        budget: RunBudget = self.budget
        held_cost = self._held_cost()
        counted_cost = held_cost if with_held else 0.0
        if budget.max_cost_usd is not None and (
            round(self.spent_cost + counted_cost + ask.estimate.cost_usd, _PRECISION) > budget.max_cost_usd
        ):
            return BudgetAnswer(
                granted=False,
                limit_kind="cost_usd",
                limit=budget.max_cost_usd,
                spent=self.spent_cost,
                reserved=held_cost,
                pipe=ask.pipe,
                estimate=ask.estimate,
            )
        held_tokens = self._held_tokens()
        counted_tokens = held_tokens if with_held else 0
        if budget.max_tokens is not None and (
            self.spent_tokens + counted_tokens + ask.estimate.tokens > budget.max_tokens
        ):
            return BudgetAnswer(
                granted=False,
                limit_kind="tokens",
                limit=budget.max_tokens,
                spent=self.spent_tokens,
                reserved=held_tokens,
                pipe=ask.pipe,
                estimate=ask.estimate,
            )
        return None

    def _held_cost(self) -> float:
        return round(sum(held.cost_usd for held in self.held.values()), _PRECISION)

    def _held_tokens(self) -> int:
        return sum(held.tokens for held in self.held.values())
