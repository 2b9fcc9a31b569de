"""Fairness and limits between tenants (docs/design/fairness.md): the cap on a tenant's running runs
(`TENANT_MAX_CONCURRENT_RUNS`) and the Temporal priority a run starts with.

The cap counts through Temporal visibility, so it is a bound with a known slack, not a lock: runs
accepted while the count is being read (or before visibility shows them) all pass it.
"""

from __future__ import annotations

from temporalio.client import Client
from temporalio.common import Priority
from temporalio.service import RPCError

from api.auth import Caller
from api.problems import ProblemError
from api.temporal_gateway import temporal_unavailable
from shared.problems.catalogue import ProblemCode
from shared.runs.names import RUN_WORKFLOW, TENANT_ATTRIBUTE

# Nothing tells when one of the tenant's runs will end: a short, fixed wait before trying again.
RETRY_AFTER_SECONDS = 5


def running_runs_query(tenant_key: str) -> str:
    """The visibility query of the tenant's open runs (their batch and chunk workflows are not runs)."""
    # The tenant key is the service's own (`single-tenant`, `k_`/`t_` + hex), never caller text.
    return (
        f"WorkflowType = '{RUN_WORKFLOW}' AND {TENANT_ATTRIBUTE} = '{tenant_key}' "
        "AND ExecutionStatus = 'Running'"
    )


async def check_run_limit(client: Client, caller: Caller, limit: int) -> None:
    """429 `tenant.run_limit_reached` with `Retry-After` when the tenant already has `limit` runs running.

    `limit` 0 is no limit, and then visibility is not asked at all.
    """
    if limit <= 0:
        return
    try:
        running = (await client.count_workflows(running_runs_query(caller.tenant_key))).count
    except RPCError as exc:
        raise temporal_unavailable() from exc
    if running < limit:
        return
    raise ProblemError(
        ProblemCode.TENANT_RUN_LIMIT_REACHED,
        f"The tenant has {running} runs running, and may have at most {limit} at once.",
        params={"limit": limit, "running": running},
        retry_after=RETRY_AFTER_SECONDS,
    )


def run_priority(caller: Caller, priority: int | None) -> Priority:
    """The run's Temporal priority: the request's priority key (None: the server's default) and, always,
    the tenant as fairness key, so one tenant's backlog cannot starve another's runs. The run's activities
    and child workflows inherit both from it (Temporal's default when they set none)."""
    return Priority(priority_key=priority, fairness_key=caller.tenant_key)
