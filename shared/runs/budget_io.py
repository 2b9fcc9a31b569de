"""The typed payloads and names of run budgets: the ledger workflow that holds one budgeted run's spend,
and the reservations the operator activity asks it for around each model call. Pure.

A run with a `budget` starts one ledger workflow (`<run workflow id>/budget`) beside its walk; every
model call of the run, in the run workflow or in any of its batch chunks, reserves its worst case there
first (a workflow Update: the ledger answers one reservation at a time, so no two chunks can overspend
together) and settles its actual cost after. Runs without a budget never meet it.
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from shared.runs.workflow_io import RunBudget

RUN_BUDGET_WORKFLOW: Final = "RunBudget"
RESERVE_UPDATE: Final = "reserve"
SETTLE_UPDATE: Final = "settle"
SPEND_QUERY: Final = "spend"
_BUDGET_SUFFIX: Final = "/budget"


def budget_workflow_id(run_workflow_id: str) -> str:
    """The ledger workflow of the run whose workflow id is `run_workflow_id` (scoped by tenant as it is)."""
    return f"{run_workflow_id}{_BUDGET_SUFFIX}"


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CallEstimate(_Payload):
    """One model call's worst case: prompt tokens bounded from above, output tokens at the call's cap,
    priced with the deck model's costs (0 when the model has no prices)."""

    input_tokens: int
    output_tokens: int
    cost_usd: float

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class BudgetAsk(_Payload):
    """A reservation of `estimate` for one call of `pipe`; `reservation_id` is unique per call attempt,
    so asking again (a retried RPC) answers the same. It lapses `expires_in_seconds` after it is granted
    (the activity's start-to-close: an attempt past it is dead, and what it held is released)."""

    reservation_id: str
    pipe: str
    estimate: CallEstimate
    expires_in_seconds: float


class BudgetSettle(_Payload):
    """What a reserved call actually cost (0 when the provider answered nothing to bill)."""

    reservation_id: str
    cost_usd: float = 0.0
    tokens: int = 0


class BudgetSpend(_Payload):
    """The ledger's state as readers see it: the limits, what settled calls spent, what is held."""

    budget: RunBudget
    spent_cost_usd: float = 0.0
    spent_tokens: int = 0
    reserved_cost_usd: float = 0.0
    reserved_tokens: int = 0
    calls: int = 0


class BudgetAnswer(_Payload):
    """The ledger's answer to a reservation: granted, "ask again" (`wait`), or refused. Refused: which limit (`cost_usd` or `tokens`) it would have
    passed, the limit, what was spent and held when it was asked; refused once, the ledger refuses every
    later reservation too (the run is ending: nothing else starts)."""

    granted: bool
    # Not granted yet: it fits beside what is spent, not beside what calls in flight hold; ask again.
    wait: bool = False
    limit_kind: str | None = None
    limit: float | None = None
    spent: float | None = None
    reserved: float | None = None
    pipe: str | None = None
    estimate: CallEstimate | None = None


class HeldReservation(_Payload):
    """A granted reservation not settled yet; `deadline` is when it lapses (seconds since the epoch)."""

    pipe: str
    cost_usd: float
    tokens: int
    deadline: float


class RunBudgetStart(_Payload):
    """The ledger workflow's input: the run's budget, and what an earlier history of it carried."""

    run_id: str
    budget: RunBudget
    spent_cost_usd: float = 0.0
    spent_tokens: int = 0
    calls: int = 0
    held: dict[str, HeldReservation] = Field(default_factory=dict[str, HeldReservation])
    lapsed: list[str] = Field(default_factory=list[str])
    refusal: BudgetAnswer | None = None
