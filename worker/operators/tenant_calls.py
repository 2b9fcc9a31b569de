"""A model call's reservation with its tenant's ledger (`worker/tenant_budget_workflow.py`), the gate of
the per-tenant limits `TENANT_MAX_COST_PER_DAY_USD` and `TENANT_MAX_CONCURRENT_MODEL_CALLS`.

Reserved as with a run's budget (`call_budget.py`, the same worst case): a call waits, asking again,
while its tenant has as many calls in flight as it may; one that today's spend leaves no room for
fails `tenant.daily_budget_exceeded`. The first call of a tenant starts its ledger (update-with-start,
on the worker's main task queue, where the ledger workflow is registered).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from shared.runs.budget_io import BudgetSettle, CallEstimate
from shared.runs.tenant_budget_io import (
    TENANT_BUDGET_WORKFLOW,
    TENANT_RESERVE_UPDATE,
    TENANT_SETTLE_UPDATE,
    TenantAnswer,
    TenantAsk,
    TenantLedgerStart,
    TenantLimits,
    TenantSettle,
    tenant_budget_workflow_id,
)
from shared.runtime.run_failure import FailureCode, PipeRunError
from worker.operators.call_budget import ledger_update, paused

logger = logging.getLogger(__name__)
_WAIT_FIRST_SECONDS = 0.2


@dataclasses.dataclass
class TenantCallBudget:
    """One invocation attempt's calls against its tenant's ledger."""

    client: Client
    tenant_key: str
    # The worker's main task queue: where a ledger this call starts runs.
    task_queue: str
    limits: TenantLimits
    pipe: str
    attempt_key: str
    expires_in_seconds: float
    calls: int = 0

    @property
    def bounds_cost(self) -> bool:
        """Only a daily limit needs a call's worst case bounded (concurrency and usage do not)."""
        return self.limits.max_cost_per_day_usd is not None

    async def reserve(self, estimate: CallEstimate) -> str:
        """The id of a granted reservation; waits while the tenant is at its limits' edge, and fails
        `tenant.daily_budget_exceeded` when today's spend leaves no room for the call."""
        self.calls += 1
        reservation_id = f"{self.attempt_key}/tenant/{self.calls}"
        ask = TenantAsk(
            reservation_id=reservation_id,
            pipe=self.pipe,
            estimate=estimate,
            expires_in_seconds=self.expires_in_seconds,
            limits=self.limits,
        )
        pause = _WAIT_FIRST_SECONDS
        while True:
            answer = await ledger_update(lambda: self._reserve(ask), self.pipe)
            if not answer.wait:
                break
            pause = await paused(pause)
        if not answer.granted:
            raise tenant_budget_exceeded(answer, self.pipe, estimate)
        return reservation_id

    async def settle(self, reservation_id: str, settled: BudgetSettle) -> None:
        """Count the call's actual cost in the tenant's day; a failure to record it is only logged (the
        reservation then lapses, and the call goes uncounted in the tenant's usage)."""
        handle = self.client.get_workflow_handle(tenant_budget_workflow_id(self.tenant_key))
        argument = TenantSettle(
            reservation_id=reservation_id, cost_usd=settled.cost_usd, tokens=settled.tokens
        )
        try:
            await ledger_update(
                lambda: handle.execute_update(TENANT_SETTLE_UPDATE, argument),  # pyright: ignore[reportUnknownMemberType, reportUnknownLambdaType] -- the SDK's overloads are partly untyped
                self.pipe,
            )
        except PipeRunError as failure:
            logger.warning("tenant ledger: settle %s not recorded: %s", reservation_id, failure)

    async def _reserve(self, ask: TenantAsk) -> TenantAnswer:
        start: WithStartWorkflowOperation[Any, None] = WithStartWorkflowOperation(
            TENANT_BUDGET_WORKFLOW,
            TenantLedgerStart(tenant_key=self.tenant_key),
            id=tenant_budget_workflow_id(self.tenant_key),
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        answer: TenantAnswer = await self.client.execute_update_with_start_workflow(  # pyright: ignore[reportUnknownMemberType] -- as above
            TENANT_RESERVE_UPDATE, ask, start_workflow_operation=start, result_type=TenantAnswer
        )
        return answer


def tenant_budget_exceeded(answer: TenantAnswer, pipe: str, estimate: CallEstimate) -> PipeRunError:
    """The failure of a call its tenant's daily limit cannot cover: the run stops (not retried)."""
    message = (
        f"a model call of '{pipe}' may cost up to {estimate.cost_usd:g} USD, which the tenant's daily "
        f"limit of {answer.limit:g} USD cannot cover ({answer.spent:g} spent on {answer.day})"
        if answer.limit is not None and answer.spent is not None
        else f"a model call of '{pipe}' would exceed the tenant's daily limit"
    )
    return PipeRunError(
        FailureCode.TENANT_BUDGET_EXCEEDED,
        message,
        pipe=pipe,
        params={
            "limit": answer.limit,
            "spent": answer.spent,
            "reserved": answer.reserved,
            "day": answer.day,
            "estimate": estimate.model_dump(mode="json"),
        },
    )
