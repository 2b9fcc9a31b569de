"""The task queues no worker polls, as the API's `/ready` reports them (see `shared/runs/queue_pollers.py`)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from temporalio.service import RPCError

from api.problems import ProblemError
from api.temporal_gateway import HEALTH_TIMEOUT, TemporalGateway
from shared.runs.queue_pollers import poller_requests, unpolled


async def unpolled_queues(gateway: TemporalGateway, queues: Sequence[str]) -> list[str] | None:
    """Those of `queues` no worker polls; None when Temporal does not answer in time."""
    try:
        client = await gateway.client()
        service = client.workflow_service
        answers = await asyncio.gather(
            *(
                service.describe_task_queue(request, timeout=HEALTH_TIMEOUT)
                for request in poller_requests(client.namespace, queues)
            )
        )
    except (ProblemError, RPCError, TimeoutError):
        return None
    return unpolled(queues, answers)
