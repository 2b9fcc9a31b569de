"""The walk's pacing inside a workflow: hand control back to Temporal every few pipes, and stop typed
before a history grows past its budget. Workflow code (deterministic: it counts, it never times).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow

from shared.runs.names import PAUSE_ACTIVITY
from shared.runtime.run_failure import FailureCode, PipeRunError

# Every this many pipe invocations the walk awaits a no-op local activity, which ends the workflow's
# activation: a long stretch of in-workflow pipes (a batch of thousands of PipeCompose) then never
# holds one activation past the SDK's 2 s deadlock detector. A local activity resolves inside the same
# workflow task (a timer would wait for the server's timer queue, about a second on the dev server).
# Counted, not timed, so that replay takes the same pauses.
_PIPES_PER_PAUSE = 50


class WalkPacer:
    """The walk's `pace`: after every `_PIPES_PER_PAUSE` invocations, every branch waits on one pause;
    and no pipe starts once the run's history has used its event budget (Temporal would terminate it at
    51,200 events, leaving no result), so a run too long for one workflow fails typed instead.
    """

    def __init__(self, history_event_budget: int) -> None:
        self.history_event_budget = history_event_budget
        self.invocations = 0
        self.pause: asyncio.Future[None] | None = None

    async def __call__(self) -> None:
        events = workflow.info().get_current_history_length()
        if events > self.history_event_budget:
            raise PipeRunError(
                FailureCode.HISTORY_EXHAUSTED,
                f"the run has recorded {events} events, over the {self.history_event_budget} one run may "
                "record (Temporal's limit is 51,200): split the batch over several runs",
                params={"events": events, "limit": self.history_event_budget},
            )
        self.invocations += 1
        if self.invocations % _PIPES_PER_PAUSE == 0:
            self.pause = asyncio.ensure_future(
                workflow.execute_local_activity(PAUSE_ACTIVITY, start_to_close_timeout=timedelta(seconds=10))
            )
        if self.pause is not None and not self.pause.done():
            # Shielded: a branch cancelled while it waits must not cancel the pause its siblings share.
            await asyncio.shield(self.pause)
