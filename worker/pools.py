"""Worker pools: which task queues a worker process polls, and what it runs on each.

Pools come from `TASK_QUEUE_ROUTES` (`shared/runs/task_routes.py`): `main` (every workflow, the
bookkeeping activities and the operator kinds no route moves), `callbacks` (completion deliveries), one
pool per pool name the routes give, and `all`, which polls every queue in one process (the default, as
before pools existed). A rate-limited model's queue is polled by the pool of its model's kind, with the
rate set on the poll so that the server paces the queue (docs/design/worker-pools.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shared.language.model_deck import ModelDeck
from shared.runs.names import callbacks_task_queue
from shared.runs.task_routes import (
    ALL_POOLS,
    CALLBACKS_POOL,
    KIND_OF_FAMILY,
    MAIN_POOL,
    pool_queue,
    rate_queue,
)


class QueueRole(StrEnum):
    MAIN = "main"  # workflows, bookkeeping activities, unrouted operators
    OPERATORS = "operators"  # the operator activities of routed kinds
    RATE = "rate"  # the calls of one rate-limited model or provider
    CALLBACKS = "callbacks"


@dataclass(frozen=True)
class PolledQueue:
    """One task queue a process polls, what runs there, and the rate the server enforces on it."""

    name: str
    role: QueueRole
    activities_per_second: float | None = None


class UnknownPoolError(ValueError):
    """The pool named at start-up is none of the routes' pools; the message lists them."""


def pool_names(routes: dict[str, str]) -> list[str]:
    """Every pool a worker may be started as, for these routes."""
    routed = sorted({pool for pool in routes.values() if pool != MAIN_POOL})
    return [ALL_POOLS, MAIN_POOL, CALLBACKS_POOL, *routed]


def polled_queues(main_queue: str, routes: dict[str, str], deck: ModelDeck, pool: str) -> list[PolledQueue]:
    """The queues a worker of `pool` polls; `UnknownPoolError` for a pool the routes do not have."""
    known = pool_names(routes)
    if pool not in known:
        msg = f"unknown worker pool '{pool}' (pools of TASK_QUEUE_ROUTES: {', '.join(known)})"
        raise UnknownPoolError(msg)
    queues: list[PolledQueue] = []
    if pool in (ALL_POOLS, MAIN_POOL):
        queues.append(PolledQueue(main_queue, QueueRole.MAIN))
    routed = sorted({name for name in routes.values() if name != MAIN_POOL})
    queues += [
        PolledQueue(pool_queue(main_queue, name), QueueRole.OPERATORS)
        for name in routed
        if pool in (ALL_POOLS, name)
    ]
    for limited, (rate, handles) in sorted(deck.rates().items()):
        pools = {routes.get(KIND_OF_FAMILY[deck.models[handle].type], MAIN_POOL) for handle in handles}
        if pool == ALL_POOLS or pool in pools:
            queues.append(
                PolledQueue(rate_queue(main_queue, limited), QueueRole.RATE, rate.activities_per_second)
            )
    if pool in (ALL_POOLS, CALLBACKS_POOL):
        queues.append(PolledQueue(callbacks_task_queue(main_queue), QueueRole.CALLBACKS))
    return queues


def pool_task_queues(main_queue: str, routes: dict[str, str], deck: ModelDeck, pool: str) -> list[str]:
    """The names of the queues a worker of `pool` polls (what a KEDA scaler of the pool watches)."""
    return [queue.name for queue in polled_queues(main_queue, routes, deck, pool)]
