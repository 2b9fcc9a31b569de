"""The task queues of this deployment that no worker polls: logged at start-up, shown by `/ready`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from temporalio.client import Client
from temporalio.service import RPCError

from shared.runs.queue_pollers import poller_requests, unpolled

logger = logging.getLogger(__name__)
# A pool started at the same time as this one has had time to poll by then.
STARTUP_CHECK_DELAY_SECONDS = 15.0


async def unpolled_queues(client: Client, queues: Sequence[str]) -> list[str]:
    """Those of `queues` no worker polls (Temporal forgets a poller a few minutes after its last poll)."""
    service = client.workflow_service
    answers = await asyncio.gather(
        *(service.describe_task_queue(request) for request in poller_requests(client.namespace, queues))
    )
    return unpolled(queues, answers)


async def warn_unpolled(
    client: Client, queues: Sequence[str], delay: float = STARTUP_CHECK_DELAY_SECONDS
) -> None:
    """Log, once, each queue of the routes that no pool polls `delay` seconds after start-up."""
    await asyncio.sleep(delay)
    try:
        missing = await unpolled_queues(client, queues)
    except RPCError as exc:
        logger.warning("could not check which task queues are polled: %s", exc)
        return
    for queue in missing:
        logger.warning(
            "no worker polls task queue %r: the runs whose steps are routed there wait until a worker "
            "of its pool starts (TASK_QUEUE_ROUTES, methodflow worker --pool)",
            queue,
        )


class PoolReadiness:
    """The worker's `/ready` report: its pool and queues once it polls, and the deployment's queues no
    worker polls (asked of Temporal at most every `cache_seconds`, so probes stay cheap)."""

    def __init__(
        self,
        client: Client,
        pool: str,
        polled: Sequence[str],
        required: Sequence[str],
        cache_seconds: float = 5,
    ) -> None:
        self.client = client
        self.pool = pool
        self.polled = list(polled)
        self.required = list(required)
        self.cache_seconds = cache_seconds
        self.polling = False
        self._checked: tuple[float, list[str] | None] | None = None

    async def report(self) -> dict[str, Any] | None:
        if not self.polling:
            return None
        now = asyncio.get_running_loop().time()
        if self._checked is None or now - self._checked[0] > self.cache_seconds:
            try:
                missing: list[str] | None = await unpolled_queues(self.client, self.required)
            except RPCError:
                missing = None  # Temporal did not answer: the report says it does not know
            self._checked = (now, missing)
        return {"pool": self.pool, "task_queues": self.polled, "unpolled_task_queues": self._checked[1]}
