"""The ledger workflow of one budgeted run: it holds the run's spend and answers reservations one at a
time (workflow Updates), so the run's workflow and all its batch chunks share one budget without a race.

Started by the run workflow as a child (`<run workflow id>/budget`) when the run has a budget, and ended
with it (the parent-close policy terminates it). Deterministic: the ledger is pure, time is
`workflow.now()`. Its history grows by a few events per model call, so it continues as new when Temporal
suggests it, carrying the ledger, once no update is being handled.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Final

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from shared.runs.budget_io import (
        RESERVE_UPDATE,
        RUN_BUDGET_WORKFLOW,
        SETTLE_UPDATE,
        SPEND_QUERY,
        BudgetAnswer,
        BudgetAsk,
        BudgetSettle,
        BudgetSpend,
        RunBudgetStart,
    )
    from shared.runs.budget_ledger import BudgetLedger


# Reservations waiting in the handler at once; the others are told to ask again (see `reserve`).
_MAX_WAITING: Final = 4
_LONGEST_WAIT: Final = 30.0  # seconds a reservation waits in the handler before it is told to ask again


@workflow.defn(name=RUN_BUDGET_WORKFLOW)
class RunBudgetWorkflow:
    @workflow.init
    def __init__(self, start: RunBudgetStart) -> None:
        # Built here, not in `run`: updates may be delivered in the very first activation.
        self._ledger = BudgetLedger(start)
        self._waiting = 0

    @workflow.run
    async def run(self, start: RunBudgetStart) -> BudgetSpend:  # noqa: ARG002 -- the ledger took it in __init__
        await workflow.wait_condition(
            lambda: workflow.info().is_continue_as_new_suggested() and workflow.all_handlers_finished()
        )
        workflow.continue_as_new(self._ledger.carry())

    @workflow.update(name=RESERVE_UPDATE)
    async def reserve(self, ask: BudgetAsk) -> BudgetAnswer:
        """Grant the call's worst case, or refuse it (and everything after it) when it cannot fit. One
        that fits only once calls in flight settle waits for the next settle here, if fewer than
        `_MAX_WAITING` already do (each waiting update counts against Temporal's limit of in-flight
        updates per workflow, 10 by default); else, or if that settle did not make room, the answer
        says to ask again."""
        ledger = self._ledger
        answer = ledger.reserve(ask, _now())
        if answer is None and self._waiting < _MAX_WAITING:
            self._waiting += 1
            try:
                await self._next_change(ledger)
            finally:
                self._waiting -= 1
            answer = ledger.reserve(ask, _now())
        return answer if answer is not None else BudgetAnswer(granted=False, wait=True)

    async def _next_change(self, ledger: BudgetLedger) -> None:
        """Until the ledger moves (a settle, a lapse, a refusal), the first held reservation lapses,
        or `_LONGEST_WAIT` passes."""
        deadline = ledger.next_deadline()
        timeout = _LONGEST_WAIT if deadline is None else min(_LONGEST_WAIT, max(0.0, deadline - _now()) + 1)
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(functools.partial(_moved, ledger, ledger.version), timeout=timeout)

    @workflow.update(name=SETTLE_UPDATE)
    def settle(self, settled: BudgetSettle) -> None:
        """Release a call's reservation and count what it cost."""
        self._ledger.settle(settled)

    @workflow.query(name=SPEND_QUERY)
    def spend(self) -> BudgetSpend:
        """The limits, what settled calls spent and what in-flight calls hold."""
        return self._ledger.spend()


def _moved(ledger: BudgetLedger, seen: int) -> bool:
    return ledger.version != seen


def _now() -> float:
    return workflow.now().timestamp()
