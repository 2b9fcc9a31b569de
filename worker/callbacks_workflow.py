"""The delivery workflow (http-api.md §10.1): one `run.finished` event to each callback URL of a run.

Started by the run workflow when the run ends (id `<run workflow id>:callbacks`, parent-close policy
abandon), so the run's own end never waits on a receiver; started again by the API, for one URL, to
redeliver. Each URL is its own activity, all in parallel: a slow or dead receiver delays nobody else.
The body is fixed once, in the input; every attempt re-signs it. A signal stops one URL's retries.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from shared.callbacks.delivery_controls import CANCEL_DELIVERY_SIGNAL, ENDED_MEMO
    from shared.callbacks.signing import webhook_id
    from shared.runs.names import CALLBACKS_WORKFLOW, DELIVER_CALLBACK_ACTIVITY
    from shared.runs.workflow_io import CallbackDelivery, CallbackTask, DeliveryOutcome

# Beyond the HTTP timeout, the activity's own time to sign, resolve and log (§10.4).
_ACTIVITY_MARGIN = timedelta(seconds=5)
# Workflows started before deliveries could be cancelled never wrote the ended memo: replaying their
# histories must not add it.
_ENDED_MEMO_PATCH = "deliveries-ended-memo"


# Unsandboxed: its code is a fan-out over activities (deterministic by construction), and skipping
# the sandbox spares each delivery a module re-import.
@workflow.defn(name=CALLBACKS_WORKFLOW, sandboxed=False)
class DeliverCallbacksWorkflow:
    def __init__(self) -> None:
        self._cancelled: set[str] = set()  # delivery ids asked to stop
        self._trying: dict[str, workflow.ActivityHandle[DeliveryOutcome]] = {}
        self._ended: dict[str, str] = {}
        self._memo = False

    @workflow.run
    async def run(self, delivery: CallbackDelivery) -> list[DeliveryOutcome]:
        self._memo = workflow.patched(_ENDED_MEMO_PATCH)
        urls = list(dict.fromkeys(delivery.urls))  # one event per distinct URL
        return list(await asyncio.gather(*(self._deliver(delivery, url) for url in urls)))

    @workflow.signal(name=CANCEL_DELIVERY_SIGNAL)
    def cancel_delivery(self, delivery_id: str) -> None:
        """Stop retrying one URL; an attempt in flight finishes first (and may still deliver)."""
        if delivery_id in self._ended:
            return
        self._cancelled.add(delivery_id)
        trying = self._trying.get(delivery_id)
        if trying is not None:
            trying.cancel()

    async def _deliver(self, delivery: CallbackDelivery, url: str) -> DeliveryOutcome:
        delivery_id = webhook_id(delivery.webhook_key, url)
        outcome = await self._attempts(delivery, url, delivery_id)
        self._ended[delivery_id] = outcome.state
        if self._memo:
            # The API reads each URL's end here while the other URLs are still being tried.
            ended: dict[str, Any] = {ENDED_MEMO: dict(self._ended)}
            workflow.upsert_memo(ended)
        return outcome

    async def _attempts(self, delivery: CallbackDelivery, url: str, delivery_id: str) -> DeliveryOutcome:
        if delivery_id in self._cancelled:
            return DeliveryOutcome(url=url, state="cancelled")
        policy = delivery.policy
        task = CallbackTask(
            run_id=delivery.run_id,
            storage_prefix=delivery.storage_prefix,
            url=url,
            body=delivery.body,
            policy=policy,
            first_attempt=delivery.first_attempt,
            run_workflow_id=delivery.run_workflow_id,
        )
        trying = workflow.start_activity(
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
            # A cancel lets the attempt in flight end, so no attempt is logged after the URL has ended
            # (a redelivery numbers its attempts after the last one logged).
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            summary=url,
        )
        self._trying[delivery_id] = trying
        try:
            return await trying
        except ActivityError:
            # Cancelled, or the retry window is exhausted.
            state = "cancelled" if delivery_id in self._cancelled else "failed"
            return DeliveryOutcome(url=url, state=state)
        finally:
            del self._trying[delivery_id]
