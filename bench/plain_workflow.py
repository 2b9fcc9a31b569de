"""The baseline of `bench/runs.py`: the benchmark's 3-step pipeline as a plain hand-made Temporal workflow.

No interpreter, no progress log, no search attributes, no policy activity: it calls the service's own
`run_operator` activity once per step, in sequence, with the `OperatorTask`s the real workflow sends
(recorded by the benchmark from one of our runs), each step fed the previous step's answer, with the
same activity options. `python -m bench.plain_workflow <task queue>` runs its worker, configured from
the same settings as ours (concurrency, sandbox, storage), until SIGTERM.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from shared.runs.names import RUN_OPERATOR_ACTIVITY
    from shared.runs.workflow_io import ActivityPolicy, OperatorAnswer, OperatorTask

PLAIN_WORKFLOW: Final = "PlainThreeSteps"


@workflow.defn(name=PLAIN_WORKFLOW)
class PlainThreeSteps:
    @workflow.run
    async def run(self, tasks: list[OperatorTask], policy: ActivityPolicy) -> OperatorAnswer:
        retry = RetryPolicy(
            initial_interval=timedelta(seconds=policy.initial_interval_seconds),
            backoff_coefficient=2.0,
            maximum_interval=timedelta(seconds=policy.max_interval_seconds),
            maximum_attempts=policy.max_attempts,
        )
        answer: OperatorAnswer | None = None
        for recorded in tasks:
            task = recorded
            if answer is not None:
                # The step's one input is the previous step's output, as in the PipeSequence.
                fed = {
                    name: stuff.model_copy(update={"content": answer.content})
                    for name, stuff in recorded.inputs.items()
                }
                task = recorded.model_copy(update={"inputs": fed})
            answer = await workflow.execute_activity(
                RUN_OPERATOR_ACTIVITY,
                task,
                result_type=OperatorAnswer,
                start_to_close_timeout=timedelta(seconds=policy.start_to_close_seconds),
                heartbeat_timeout=timedelta(seconds=policy.heartbeat_seconds),
                retry_policy=retry,
                summary=task.pipe_ref,
            )
        if answer is None:
            msg = "no step to run"
            raise ValueError(msg)
        return answer


async def serve(task_queue: str) -> None:
    """Run the baseline worker on `task_queue` until SIGTERM or SIGINT."""
    # Imported here: the sandbox re-imports this module for every workflow run; keep its top light.
    import asyncio
    import signal

    from temporalio.worker import Worker
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

    from shared.runtime.function_registry import DEFAULT_REGISTRY, load_entry_points, load_function_modules
    from shared.storage.blob_store import LocalBlobStore
    from worker.activities.operators import OperatorActivities
    from worker.settings import get_worker_settings
    from worker.temporal_connection import connect

    settings = get_worker_settings()
    load_entry_points()
    load_function_modules(settings.function_modules)
    client = await connect()
    activities = OperatorActivities(
        LocalBlobStore(settings.storage_root), DEFAULT_REGISTRY, settings.activity_policy()
    )
    # The same sandbox as `worker.runner`: the pure core passed through.
    runner = SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(
            "shared", "jinja2", "markupsafe", "markdown_it"
        )
    )
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[PlainThreeSteps],
        activities=[activities.run_operator],
        max_concurrent_activities=settings.worker_max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
        graceful_shutdown_timeout=timedelta(seconds=settings.worker_graceful_shutdown_seconds),
        workflow_runner=runner,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with worker:
        await stop.wait()


if __name__ == "__main__":
    import asyncio
    import sys

    # Through the module's real name, so the sandbox re-imports `bench.plain_workflow`, not `__main__`.
    from bench.plain_workflow import serve as serve_by_name

    asyncio.run(serve_by_name(sys.argv[1]))
