"""The run workflow's progress query as the API asks it (http-api.md §9.4, §9.5, §9.8)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client, WorkflowQueryFailedError, WorkflowQueryRejectedError
from temporalio.service import RPCError

from shared.runs.names import PROGRESS_QUERY
from shared.runs.workflow_io import ProgressView

# A query waits for a worker to answer it; with none polling it would wait far longer than a read should.
QUERY_TIMEOUT = timedelta(seconds=2)


async def query_progress(client: Client, run_id: str, after: int) -> ProgressView | None:
    """The state, counters and events after `after`; None when no worker can answer right now."""
    try:
        return await client.get_workflow_handle(run_id).query(
            PROGRESS_QUERY, after, result_type=ProgressView, rpc_timeout=QUERY_TIMEOUT
        )
    except (RPCError, WorkflowQueryFailedError, WorkflowQueryRejectedError):
        return None  # the read degrades to "no progress" rather than failing
