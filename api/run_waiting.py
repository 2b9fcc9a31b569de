"""Waiting for a submitted run's end, for the routes that answer with its result (`/v1/execute`,
`/v1/build/pipeline`)."""

from __future__ import annotations

import asyncio

from temporalio.client import Client, WorkflowFailureError
from temporalio.service import RPCError

from api.auth import Caller
from api.problems import RunProblem
from api.run_records import read_run
from api.run_submission import Submission
from api.temporal_gateway import temporal_unavailable
from shared.runs.run_states import RunState
from shared.runs.workflow_io import RunEnd


async def completed_run(
    client: Client, submission: Submission, caller: Caller, wait_seconds: float
) -> RunEnd | None:
    """The run's end once it completed; None when it is still running after `wait_seconds`.

    A run that ended badly raises its own problem (`RunProblem`, with the status the run recorded); a
    Temporal that cannot tell raises 503 `runtime.unavailable`.
    """
    handle = client.get_workflow_handle(submission.workflow_id, result_type=RunEnd)
    try:
        end = await asyncio.wait_for(handle.result(), timeout=wait_seconds)
    except TimeoutError:
        return None
    except (WorkflowFailureError, RPCError):
        record = await read_run(client, submission.run_id, caller=caller)
        if record is None:
            raise temporal_unavailable() from None
        raise RunProblem(record.error or {}, record.error_status or 500) from None
    if end.state != RunState.COMPLETED or end.error is not None:
        raise RunProblem(end.error or {}, end.error_status or 500)
    return end
