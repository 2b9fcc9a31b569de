"""The typed payloads and names of per-tenant limits: one long-lived ledger workflow per tenant
(`tenant-budget/<tenant key>`) holding the tenant's spend per UTC day and per pipe, and its model
calls in flight. Pure.

A worker with `TENANT_MAX_COST_PER_DAY_USD` or `TENANT_MAX_CONCURRENT_MODEL_CALLS` set reserves every
model call with its tenant's ledger (started by the first call, update-with-start) and settles it after,
as a budgeted run does with its own ledger; the limits travel with each reservation, so the ledger
always applies the settings of the workers that ask. `GET /v1/usage` reads the ledger's days.
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from shared.runs.budget_io import CallEstimate, HeldReservation

TENANT_BUDGET_WORKFLOW: Final = "TenantBudget"
TENANT_RESERVE_UPDATE: Final = "tenant_reserve"
TENANT_SETTLE_UPDATE: Final = "tenant_settle"
TENANT_USAGE_QUERY: Final = "usage"
# How many UTC days of spend the ledger keeps (and `GET /v1/usage` can answer).
USAGE_DAYS_KEPT: Final = 62


def tenant_budget_workflow_id(tenant_key: str) -> str:
    """The ledger workflow of the tenant `tenant_key` (its key is its namespace of run ids too)."""
    return f"tenant-budget/{tenant_key}"


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TenantLimits(_Payload):
    """The worker's per-tenant settings; None: no such limit."""

    max_cost_per_day_usd: float | None = None
    max_concurrent_calls: int | None = None


class TenantAsk(_Payload):
    """A reservation of one call's worst case against its tenant's limits (see `BudgetAsk`)."""

    reservation_id: str
    pipe: str
    estimate: CallEstimate
    expires_in_seconds: float
    limits: TenantLimits


class TenantSettle(_Payload):
    reservation_id: str
    cost_usd: float = 0.0
    tokens: int = 0


class TenantAnswer(_Payload):
    """Granted; or `wait` (the tenant has as many calls in flight as it may, or today's spend leaves room
    only once they settle): ask again; or refused: today's spend leaves no room for the call."""

    granted: bool
    wait: bool = False
    limit: float | None = None
    spent: float | None = None
    reserved: float | None = None
    day: str | None = None
    estimate: CallEstimate | None = None


class PipeSpend(_Payload):
    cost_usd: float = 0.0
    tokens: int = 0
    model_calls: int = 0


class DaySpend(_Payload):
    """One UTC day of a tenant's settled calls, in total and per pipe code."""

    day: str  # YYYY-MM-DD
    cost_usd: float = 0.0
    tokens: int = 0
    model_calls: int = 0
    pipes: dict[str, PipeSpend] = Field(default_factory=dict[str, PipeSpend])


class TenantUsage(_Payload):
    """What the ledger answers `GET /v1/usage`: its days, oldest first, and what is in flight."""

    days: list[DaySpend] = Field(default_factory=list[DaySpend])
    calls_in_flight: int = 0


class TenantLedgerStart(_Payload):
    """The tenant ledger's input: its tenant, and what an earlier history of it carried."""

    tenant_key: str
    days: list[DaySpend] = Field(default_factory=list[DaySpend])
    held: dict[str, HeldReservation] = Field(default_factory=dict[str, HeldReservation])
    lapsed: dict[str, str] = Field(default_factory=dict[str, str])  # reservation id -> pipe
