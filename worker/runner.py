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

from shared.runs.names import callbacks_task_queue
from shared.runtime.function_registry import (
    DEFAULT_REGISTRY,
    FunctionRegistry,
    load_entry_points,
    load_function_modules,
)
from worker.activities.batch_items import BatchActivities
from worker.activities.callbacks import CallbackActivities
from worker.activities.operators import OperatorActivities
from worker.batch_workflow import RunBatchWorkflow
from worker.callbacks_workflow import DeliverCallbacksWorkflow
from worker.chunk_workflow import RunBatchChunkWorkflow
from worker.health import serve_health
from worker.run_workflow import RunPipelineWorkflow
from worker.settings import WorkerSettings
from worker.temporal_connection import connect

logger = logging.getLogger(__name__)

# The workflow imports the pure core; passing it through keeps one copy of its modules (and their
# caches) instead of re-importing them into every workflow's sandbox. Jinja2 imports its runtime from
# the code it compiles, at the first render, so it is passed through by name too (deterministic: it
# renders templates in memory; its lock only guards its template cache).
_PASSTHROUGH = ("shared", "jinja2", "markupsafe", "markdown_it")
WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(*_PASSTHROUGH)
)
WORKFLOWS = [RunPipelineWorkflow, RunBatchWorkflow, RunBatchChunkWorkflow, DeliverCallbacksWorkflow]


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
    functions: FunctionRegistry = DEFAULT_REGISTRY,
    extra_activities: Sequence[Callable[..., Any]] = (),
) -> WorkerGroup:
    """The workers of one process for `task_queue` (default `TEMPORAL_TASK_QUEUE`): runs and their
    activities there, callback deliveries on `<task queue>-callbacks`, so a burst of new runs never
    queues ahead of the deliveries of runs that have ended."""
    queue = task_queue or settings.temporal_task_queue
    store = settings.blob_store
    activities = OperatorActivities(
        store,
        functions,
        settings.activity_policy(),
        deck=settings.load_model_deck(),
        providers=settings.provider_registry(),
        files=settings.input_files(store),
    )
    batches = BatchActivities(store)
    secret = settings.completion_callback_secret
    callbacks = CallbackActivities(
        store,
        secret.get_secret_value() if secret is not None else None,
        allow_private=settings.allow_private_callback_urls,
    )
    common: dict[str, Any] = {
        "max_concurrent_workflow_tasks": settings.worker_max_concurrent_workflow_tasks,
        "graceful_shutdown_timeout": timedelta(seconds=settings.worker_graceful_shutdown_seconds),
        "sticky_queue_schedule_to_start_timeout": timedelta(seconds=settings.worker_sticky_timeout_seconds),
        "workflow_runner": WORKFLOW_RUNNER,
    }
    runs = Worker(
        client,
        task_queue=queue,
        workflows=[RunPipelineWorkflow, RunBatchWorkflow, RunBatchChunkWorkflow],
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
            *extra_activities,
        ],
        max_concurrent_activities=settings.worker_max_concurrent_activities,
        **common,
    )
    deliveries = Worker(
        client,
        task_queue=callbacks_task_queue(queue),
        workflows=[DeliverCallbacksWorkflow],
        activities=[callbacks.deliver_callback],
        max_concurrent_activities=settings.worker_max_concurrent_deliveries,
        **common,
    )
    return WorkerGroup((runs, deliveries), on_close=(activities.aclose,))


class WorkerGroup:
    """Several workers run and stopped together (`async with`), each draining its in-flight work."""

    def __init__(
        self, workers: Sequence[Worker], *, on_close: Sequence[Callable[[], Awaitable[None]]] = ()
    ) -> None:
        self.workers = tuple(workers)
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
    load_function_modules(settings.function_modules)
    client = await connect(address)
    worker = build_worker(client, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    health = await serve_health(settings.worker_health_port) if settings.worker_health_port else None
    logger.info("worker polling task queue %r", settings.temporal_task_queue)
    async with worker:
        await stop.wait()
        logger.info("worker stopping: finishing in-flight activities")
    if health is not None:
        health.close()
        await health.wait_closed()
