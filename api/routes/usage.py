"""`GET /v1/usage` (issue 19): the caller's model spend per UTC day and per pipe, as its tenant's ledger
workflow (`tenant-budget/<tenant key>`) counted it.

Workers keep that ledger when they limit tenants (`TENANT_MAX_COST_PER_DAY_USD`,
`TENANT_MAX_CONCURRENT_MODEL_CALLS`) or are asked to count usage (`TENANT_USAGE_LEDGER`): every model
call is reserved and settled there. A tenant whose calls were never counted gets an empty list of days.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field
from temporalio.client import WorkflowQueryFailedError, WorkflowQueryRejectedError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import CallerDep, GatewayDep
from api.temporal_gateway import temporal_unavailable
from shared.runs.tenant_budget_io import (
    TENANT_USAGE_QUERY,
    USAGE_DAYS_KEPT,
    TenantUsage,
    tenant_budget_workflow_id,
)

router = APIRouter(tags=["usage"])


class PipeUsage(BaseModel):
    """What one pipe's model calls cost on one day."""

    pipe_code: str
    cost_usd: float
    tokens: int
    model_calls: int


class DayUsage(BaseModel):
    """One UTC day of the caller's model calls: in total, and per pipe (most expensive first)."""

    day: str = Field(description="The UTC day, YYYY-MM-DD.")
    cost_usd: float
    tokens: int
    model_calls: int
    pipes: list[PipeUsage]


class UsageAnswer(BaseModel):
    """The caller's spend over the last days the ledger keeps, oldest first."""

    days: list[DayUsage] = Field(description=f"Up to {USAGE_DAYS_KEPT} UTC days, oldest first.")
    calls_in_flight: int = Field(description="Model calls reserved and not settled yet.")


@router.get("/v1/usage", response_model=UsageAnswer)
async def usage(caller: CallerDep, gateway: GatewayDep) -> UsageAnswer:
    """The caller's model spend per UTC day and per pipe."""
    client = await gateway.client()
    handle = client.get_workflow_handle(tenant_budget_workflow_id(caller.tenant_key))
    try:
        counted: TenantUsage = await handle.query(TENANT_USAGE_QUERY, result_type=TenantUsage)  # pyright: ignore[reportUnknownMemberType] -- the SDK's overloads are partly untyped
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return UsageAnswer(days=[], calls_in_flight=0)
        raise temporal_unavailable() from exc
    except (WorkflowQueryFailedError, WorkflowQueryRejectedError) as exc:
        detail = "The usage ledger cannot be read right now."
        raise temporal_unavailable(detail) from exc
    return UsageAnswer(
        days=[
            DayUsage(
                day=day.day,
                cost_usd=day.cost_usd,
                tokens=day.tokens,
                model_calls=day.model_calls,
                pipes=sorted(
                    (
                        PipeUsage(
                            pipe_code=code,
                            cost_usd=spend.cost_usd,
                            tokens=spend.tokens,
                            model_calls=spend.model_calls,
                        )
                        for code, spend in day.pipes.items()
                    ),
                    key=lambda pipe: (-pipe.cost_usd, pipe.pipe_code),
                ),
            )
            for day in counted.days
        ],
        calls_in_flight=counted.calls_in_flight,
    )
