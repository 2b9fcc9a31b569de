"""The ledger workflow of one tenant (`tenant-budget/<tenant key>`): its model calls in flight and its
spend per UTC day and per pipe, answering reservations one at a time (workflow Updates), so that every
run of the tenant, on every worker, shares the per-tenant limits without a race.

Long-lived: started by the first model call that asks for it (update-with-start), it never ends; its
history grows by a few events per call, so it continues as new when Temporal suggests it, carrying the
ledger, once no update is being handled. Deterministic: the ledger is pure, time is `workflow.now()`.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Final

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from shared.runs.tenant_budget_io import (
        TENANT_BUDGET_WORKFLOW,
        TENANT_RESERVE_UPDATE,
        TENANT_SETTLE_UPDATE,
        TENANT_USAGE_QUERY,
        TenantAnswer,
        TenantAsk,
        TenantLedgerStart,
        TenantSettle,
        TenantUsage,
    )
    from shared.runs.tenant_ledger import TenantLedger

# As in the run's ledger (`budget_workflow.py`): few updates wait in a handler, the others ask again.
_MAX_WAITING: Final = 4
_LONGEST_WAIT: Final = 30.0


@workflow.defn(name=TENANT_BUDGET_WORKFLOW)
class TenantBudgetWorkflow:
    @workflow.init
    def __init__(self, start: TenantLedgerStart) -> None:
        self._ledger = TenantLedger(start)
        self._waiting = 0

    @workflow.run
    async def run(self, start: TenantLedgerStart) -> None:  # noqa: ARG002 -- the ledger took it in __init__
        await workflow.wait_condition(
            lambda: workflow.info().is_continue_as_new_suggested() and workflow.all_handlers_finished()
        )
        workflow.continue_as_new(self._ledger.carry())

    @workflow.update(name=TENANT_RESERVE_UPDATE)
    async def reserve(self, ask: TenantAsk) -> TenantAnswer:
        """Grant the call, refuse it (today's spend leaves no room), or tell the caller to ask again (the
        tenant is at its concurrency limit, or only calls in flight take today's room)."""
        ledger = self._ledger
        answer = ledger.reserve(ask, workflow.now())
        if answer is None and self._waiting < _MAX_WAITING:
            self._waiting += 1
            try:
                deadline = ledger.next_deadline()
                now = workflow.now().timestamp()
                timeout = (
                    _LONGEST_WAIT if deadline is None else min(_LONGEST_WAIT, max(0.0, deadline - now) + 1)
                )
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(
                        functools.partial(_moved, ledger, ledger.version), timeout=timeout
                    )
            finally:
                self._waiting -= 1
            answer = ledger.reserve(ask, workflow.now())
        return answer if answer is not None else TenantAnswer(granted=False, wait=True)

    @workflow.update(name=TENANT_SETTLE_UPDATE)
    def settle(self, settled: TenantSettle) -> None:
        """Release a call's reservation and count what it cost, today, under its pipe."""
        self._ledger.settle(settled, workflow.now())

    @workflow.query(name=TENANT_USAGE_QUERY)
    def usage(self) -> TenantUsage:
        """The tenant's spend per UTC day and per pipe, and its calls in flight."""
        return self._ledger.usage()


def _moved(ledger: TenantLedger, seen: int) -> bool:
    return ledger.version != seen
