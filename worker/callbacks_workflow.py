"""The delivery workflow (http-api.md §10.1): one `run.finished` event to each callback URL of a run.

Started by the run workflow when the run ends (id `<run id>:callbacks`, parent-close policy abandon),
so the run's own end never waits on a receiver. Each URL is its own activity, all in parallel: a slow
or dead receiver delays nobody else. The body is fixed once, in the input; every attempt re-signs it.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from shared.runs.names import CALLBACKS_WORKFLOW, DELIVER_CALLBACK_ACTIVITY
    from shared.runs.workflow_io import CallbackDelivery, CallbackTask, DeliveryOutcome

# Beyond the HTTP timeout, the activity's own time to sign, resolve and log (§10.4).
_ACTIVITY_MARGIN = timedelta(seconds=5)


# Unsandboxed: its code is a fan-out over activities (deterministic by construction), and skipping
# the sandbox spares each delivery a module re-import.
@workflow.defn(name=CALLBACKS_WORKFLOW, sandboxed=False)
class DeliverCallbacksWorkflow:
    @workflow.run
    async def run(self, delivery: CallbackDelivery) -> list[DeliveryOutcome]:
        urls = list(dict.fromkeys(delivery.urls))  # one event per distinct URL
        return list(await asyncio.gather(*(self._deliver(delivery, url) for url in urls)))

    async def _deliver(self, delivery: CallbackDelivery, url: str) -> DeliveryOutcome:
        policy = delivery.policy
        task = CallbackTask(
            run_id=delivery.run_id,
            storage_prefix=delivery.storage_prefix,
            url=url,
            body=delivery.body,
            policy=policy,
        )
        try:
            return await workflow.execute_activity(
                DELIVER_CALLBACK_ACTIVITY,
                task,
                result_type=DeliveryOutcome,
                start_to_close_timeout=timedelta(seconds=policy.attempt_timeout_seconds) + _ACTIVITY_MARGIN,
                schedule_to_close_timeout=timedelta(seconds=policy.retry_window_seconds),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=policy.initial_interval_seconds),
                    backoff_coefficient=policy.backoff_coefficient,
                    maximum_interval=timedelta(seconds=policy.max_interval_seconds),
                    maximum_attempts=0,  # bounded by the window, not by a count
                ),
                summary=url,
            )
        except ActivityError:
            return DeliveryOutcome(url=url, state="failed")  # the retry window is exhausted
