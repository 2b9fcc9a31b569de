"""A worker process: polls the task queue, runs run workflows and operator activities, stops gracefully.

`build_worker` is also what tests use to run workers in-process on their own task queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from shared.builder.draft_check import register_builder_functions
from shared.language.model_deck import ModelDeck
from shared.runs.task_routes import required_queues, routing_for
from shared.runtime.function_registry import (
    DEFAULT_REGISTRY,
    FunctionRegistry,
    load_entry_points,
    load_function_modules,
)
from worker.activities.batch_items import BatchActivities
from worker.activities.callbacks import CallbackActivities
from worker.activities.chunk_reuse import ChunkReuseActivities
from worker.activities.memo_lookup import MemoLookupActivities
from worker.activities.operators import OperatorActivities
from worker.batch_workflow import RunBatchWorkflow
from worker.budget_workflow import RunBudgetWorkflow
from worker.callbacks_workflow import DeliverCallbacksWorkflow
from worker.chunk_memo import ChunkMemo
from worker.chunk_workflow import RunBatchChunkWorkflow
from worker.health import serve_health
from worker.metrics import serve_worker_metrics
from worker.pools import QueueRole, polled_queues
from worker.queue_pollers import PoolReadiness, warn_unpolled
from worker.run_workflow import RunPipelineWorkflow
from worker.settings import WorkerSettings
from worker.temporal_connection import connect
from worker.tenant_budget_workflow import TenantBudgetWorkflow
from worker.tracing import start_tracing, stop_tracing
from worker.versioning import versioning_options

logger = logging.getLogger(__name__)

# The workflow imports the pure core; passing it through keeps one copy of its modules (and their
# caches) instead of re-importing them into every workflow's sandbox. Jinja2 imports its runtime from
# the code it compiles, at the first render, so it is passed through by name too (deterministic: it
# renders templates in memory; its lock only guards its template cache).
_PASSTHROUGH = ("shared", "jinja2", "markupsafe", "markdown_it")
WORKFLOWS = [
    RunPipelineWorkflow,
    RunBatchWorkflow,
    RunBatchChunkWorkflow,
    DeliverCallbacksWorkflow,
    RunBudgetWorkflow,
    TenantBudgetWorkflow,
]
# The workflow modules themselves too: otherwise the sandbox imports the module afresh for every
# workflow run (its code executed and its class decorated again, and compiled again wherever the
# bytecode cache is stale or not written): about a fifth of the worker's CPU in a 3-step run, profiled.
# They hold constants only; a workflow's state lives on its instance, still created per run.
_WORKFLOW_MODULES = tuple(workflow.__module__ for workflow in WORKFLOWS)
WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(*_PASSTHROUGH, *_WORKFLOW_MODULES)
)


def build_replayer() -> Replayer:
    """Replays recorded histories with the worker's workflows, sandbox and converter (replay tests)."""
    return Replayer(
        workflows=WORKFLOWS, workflow_runner=WORKFLOW_RUNNER, data_converter=pydantic_data_converter
    )


def build_worker(
    client: Client,
    settings: WorkerSettings,
    *,
    task_queue: str | None = None,
    pool: str | None = None,
    deck: ModelDeck | None = None,
    functions: FunctionRegistry = DEFAULT_REGISTRY,
    extra_activities: Sequence[Callable[..., Any]] = (),
) -> WorkerGroup:
    """The workers of one process of `pool` (default `WORKER_POOL`, `all`) around the main task queue
    `task_queue` (default `TEMPORAL_TASK_QUEUE`): one SDK worker per queue the pool polls
    (`worker/pools.py`). Callback deliveries have their own queue, `<task queue>-callbacks`, so a burst
    of new runs never queues ahead of the deliveries of runs that have ended. `deck` defaults to
    `MODEL_DECK`'s. `UnknownPoolError` for a pool the routes do not have."""
    queue = task_queue or settings.temporal_task_queue
    deck = deck or settings.load_model_deck()
    routes = settings.routes
    polled = polled_queues(queue, routes, deck, pool or settings.worker_pool)
    store = settings.blob_store
    common: dict[str, Any] = {
        "max_concurrent_workflow_tasks": settings.worker_max_concurrent_workflow_tasks,
        "graceful_shutdown_timeout": timedelta(seconds=settings.worker_graceful_shutdown_seconds),
        "sticky_queue_schedule_to_start_timeout": timedelta(seconds=settings.worker_sticky_timeout_seconds),
        "workflow_runner": WORKFLOW_RUNNER,
        **versioning_options(settings),
    }
    workers: list[Worker] = []
    on_close: list[Callable[[], Awaitable[None]]] = []
    roles = {entry.role for entry in polled}
    activities: OperatorActivities | None = None
    if roles & {QueueRole.MAIN, QueueRole.OPERATORS, QueueRole.RATE}:
        activities = OperatorActivities(
            store,
            functions,
            settings.activity_policy(routing_for(queue, routes, deck)),
            deck=deck,
            providers=settings.provider_registry(),
            files=settings.input_files(store),
            budget_max_output_tokens=settings.budget_max_output_tokens,
            tenant_limits=settings.tenant_limits(),
            tenant_queue=queue,
        )
        on_close.append(activities.aclose)
    for entry in polled:
        if entry.role == QueueRole.MAIN and activities is not None:
            workers.append(_main_worker(client, settings, entry.name, activities, extra_activities, common))
        elif entry.role in (QueueRole.OPERATORS, QueueRole.RATE) and activities is not None:
            workers.append(
                Worker(
                    client,
                    task_queue=entry.name,
                    activities=[activities.run_operator, *extra_activities],
                    max_concurrent_activities=settings.worker_max_concurrent_activities,
                    # The server paces this queue for every worker polling it (the last poll's value wins,
                    # and every worker reads the same deck).
                    max_task_queue_activities_per_second=entry.activities_per_second,
                    **common,
                )
            )
        elif entry.role == QueueRole.CALLBACKS:
            workers.append(_callbacks_worker(client, settings, entry.name, common))
    return WorkerGroup(workers, on_close=on_close, queues=[entry.name for entry in polled])


def _main_worker(
    client: Client,
    settings: WorkerSettings,
    queue: str,
    activities: OperatorActivities,
    extra_activities: Sequence[Callable[..., Any]],
    common: dict[str, Any],
) -> Worker:
    """Every run workflow, the bookkeeping activities and the operators no route moves elsewhere."""
    chunk_memo = ChunkMemo(activities.methods, activities.memo, settings.blob_store)
    batches = BatchActivities(settings.blob_store, chunk_memo)
    lookups = MemoLookupActivities(activities.methods, activities.memo)
    reuses = ChunkReuseActivities(activities.methods, activities.memo, batches)
    return Worker(
        client,
        task_queue=queue,
        workflows=[
            RunPipelineWorkflow,
            RunBatchWorkflow,
            RunBatchChunkWorkflow,
            RunBudgetWorkflow,
            TenantBudgetWorkflow,
        ],
        activities=[
            activities.worker_policy,
            activities.pause,
            activities.run_operator,
            activities.store_run_output,
            batches.store_batch,
            batches.chunk_context,
            batches.load_items,
            batches.store_chunk_output,
            batches.seal_batch,
            batches.merge_lists,
            batches.tally_chunks,
            lookups.memo_lookup,
            reuses.reuse_chunk,
            *extra_activities,
        ],
        max_concurrent_activities=settings.worker_max_concurrent_activities,
        **common,
    )


def _callbacks_worker(client: Client, settings: WorkerSettings, queue: str, common: dict[str, Any]) -> Worker:
    secret = settings.completion_callback_secret
    callbacks = CallbackActivities(
        settings.blob_store,
        secret.get_secret_value() if secret is not None else None,
        allow_private=settings.allow_private_callback_urls,
    )
    return Worker(
        client,
        task_queue=queue,
        workflows=[DeliverCallbacksWorkflow],
        activities=[callbacks.deliver_callback],
        max_concurrent_activities=settings.worker_max_concurrent_deliveries,
        **common,
    )


class WorkerGroup:
    """Several workers run and stopped together (`async with`), each draining its in-flight work."""

    def __init__(
        self,
        workers: Sequence[Worker],
        *,
        on_close: Sequence[Callable[[], Awaitable[None]]] = (),
        queues: Sequence[str] = (),
    ) -> None:
        self.workers = tuple(workers)
        self.queues = tuple(queues)  # the task queues polled, for logs and readiness
        self.on_close = tuple(on_close)  # run after the workers drained, e.g. closing provider clients
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> WorkerGroup:
        for close in self.on_close:
            self._stack.push_async_callback(close)
        for worker in self.workers:
            await self._stack.enter_async_context(worker)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stack.aclose()


async def run_worker(settings: WorkerSettings, *, address: str | None = None) -> None:
    """Run until SIGTERM or SIGINT, then let in-flight activities finish (up to the graceful timeout)."""
    load_entry_points()
    register_builder_functions()  # the Pipe Builder's own method calls them
    load_function_modules(settings.function_modules)
    start_tracing(settings)  # before connecting: the client's interceptors read it
    metrics = await serve_worker_metrics(settings)  # None when WORKER_METRICS_PORT is unset
    client = await connect(address, runtime=metrics.runtime if metrics is not None else None)
    deck = settings.load_model_deck()  # read once: for the workers and for the readiness report
    worker = build_worker(client, settings, deck=deck)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    required = required_queues(settings.temporal_task_queue, settings.routes, deck)
    readiness = PoolReadiness(client, settings.worker_pool, worker.queues, required)
    health = (
        await serve_health(settings.worker_health_port, ready=readiness.report)
        if settings.worker_health_port
        else None
    )
    # tests/helpers/worker_process.py waits for "worker polling task queue".
    logger.info("worker polling task queues %s (pool %r)", ", ".join(worker.queues), settings.worker_pool)
    async with worker:
        readiness.polling = True
        check = asyncio.create_task(warn_unpolled(client, required))
        await stop.wait()
        check.cancel()
        logger.info("worker stopping: finishing in-flight activities")
    if health is not None:
        health.close()
        await health.wait_closed()
    if metrics is not None:
        await metrics.close()
    await asyncio.to_thread(stop_tracing)  # the spans still batched go out
