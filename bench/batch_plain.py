"""The baseline of `bench/batch.py`: a plain hand-written Temporal sliding-window workflow over N items.

After the idea of temporalio/samples-python's `batch_sliding_window` (written here, not copied, and with
activities where the sample starts child workflows): `window` activities in flight, the next item
started as one ends, and a continue-as-new every `per_history` items so each history stays small. Before
continuing, the window drains (activities cannot move to the next run), a pause of about one item's
latency every `per_history` items. Each item is the service's own `run_operator` activity with the task
our batch scheduled (recorded by the benchmark), its item input replaced, and the same activity options.
No interpreter, no progress log, outputs checked and counted, not kept.
`python -m bench.batch_plain <task queue>` runs its worker with the worker's settings, until SIGTERM.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Final

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from bench.batch_functions import echoed
    from shared.runs.names import RUN_OPERATOR_ACTIVITY
    from shared.runs.workflow_io import ActivityPolicy, OperatorAnswer, OperatorTask

PLAIN_BATCH_WORKFLOW: Final = "PlainSlidingWindow"
READY_LINE: Final = "plain batch worker polling"


def item_text(index: int) -> str:
    """The text of item `index`: the same items in our batch's input and in the baseline."""
    return f"i{index}"


class WindowJob(BaseModel):
    """The baseline's input, carried across continue-as-new: items are made from their index, not sent."""

    task: OperatorTask
    item_input: str
    items: int
    window: int
    per_history: int
    policy: ActivityPolicy
    offset: int = 0
    done: int = 0


@workflow.defn(name=PLAIN_BATCH_WORKFLOW)
class PlainSlidingWindow:
    @workflow.run
    async def run(self, job: WindowJob) -> int:
        """Items `offset` up to `offset + per_history` through the window; the items done in all runs."""
        end = min(job.items, job.offset + job.per_history)
        indexes = iter(range(job.offset, end))
        done = 0

        async def lane() -> None:
            nonlocal done
            for index in indexes:  # one iterator shared by the lanes: each item starts once
                answer = await self._item(job, index)
                if answer.content != {"text": echoed(item_text(index))}:
                    msg = f"item {index} answered {answer.content!r}"
                    raise ValueError(msg)
                done += 1

        await asyncio.gather(*(lane() for _ in range(job.window)))
        if end < job.items:
            workflow.continue_as_new(job.model_copy(update={"offset": end, "done": job.done + done}))
        return job.done + done

    async def _item(self, job: WindowJob, index: int) -> OperatorAnswer:
        policy = job.policy
        recorded = job.task.inputs[job.item_input]
        task = job.task.model_copy(
            update={
                "inputs": {
                    **job.task.inputs,
                    job.item_input: recorded.model_copy(update={"content": {"text": item_text(index)}}),
                }
            }
        )
        return await workflow.execute_activity(
            RUN_OPERATOR_ACTIVITY,
            task,
            result_type=OperatorAnswer,
            start_to_close_timeout=timedelta(seconds=policy.start_to_close_seconds),
            heartbeat_timeout=timedelta(seconds=policy.heartbeat_seconds),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=policy.initial_interval_seconds),
                backoff_coefficient=2.0,
                maximum_interval=timedelta(seconds=policy.max_interval_seconds),
                maximum_attempts=policy.max_attempts,
            ),
        )


async def serve(task_queue: str) -> None:
    """Run the baseline worker on `task_queue` until SIGTERM or SIGINT, with our worker's settings."""
    # Imported here: the sandbox re-imports this module for every workflow run; keep its top light.
    import signal

    from temporalio.worker import Worker

    from shared.runtime.function_registry import DEFAULT_REGISTRY, load_entry_points, load_function_modules
    from worker.activities.operators import OperatorActivities
    from worker.runner import WORKFLOW_RUNNER
    from worker.settings import get_worker_settings
    from worker.temporal_connection import connect

    settings = get_worker_settings()
    load_entry_points()
    load_function_modules(settings.function_modules)
    client = await connect()
    activities = OperatorActivities(settings.blob_store, DEFAULT_REGISTRY, settings.activity_policy())
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[PlainSlidingWindow],
        activities=[activities.run_operator],
        max_concurrent_activities=settings.worker_max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
        graceful_shutdown_timeout=timedelta(seconds=settings.worker_graceful_shutdown_seconds),
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=settings.worker_sticky_timeout_seconds),
        workflow_runner=WORKFLOW_RUNNER,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with worker:
        print(READY_LINE, flush=True)  # the benchmark waits for this line in the log
        await stop.wait()


if __name__ == "__main__":
    import sys

    # Through the module's real name, so the sandbox re-imports `bench.batch_plain`, not `__main__`.
    from bench.batch_plain import serve as serve_by_name

    asyncio.run(serve_by_name(sys.argv[1]))
