"""The stable names both sides agree on: workflow and activity types, queries, search attributes. Pure.

Renaming any of these breaks runs already in flight, so they are spelled once, here.
"""

from __future__ import annotations

from typing import Final

RUN_WORKFLOW: Final = "RunPipeline"
# One per run with callback URLs, id `<run id>:callbacks` (http-api.md §10.1).
CALLBACKS_WORKFLOW: Final = "DeliverCallbacks"
DELIVER_CALLBACK_ACTIVITY: Final = "deliver_callback"
RUN_OPERATOR_ACTIVITY: Final = "run_operator"
STORE_RUN_OUTPUT_ACTIVITY: Final = "store_run_output"

PROGRESS_QUERY: Final = "progress"
EVENTS_QUERY: Final = "events"
CANCEL_SIGNAL: Final = "cancel"

# Keyword search attributes, registered on the dev server at start (§9.1).
TENANT_ATTRIBUTE: Final = "MethodflowTenant"
PIPE_CODE_ATTRIBUTE: Final = "MethodflowPipeCode"
STATE_ATTRIBUTE: Final = "MethodflowState"
SEARCH_ATTRIBUTES: Final = (TENANT_ATTRIBUTE, PIPE_CODE_ATTRIBUTE, STATE_ATTRIBUTE)
WORKER_POLICY_ACTIVITY: Final = "worker_policy"
# A no-op local activity: the walk awaits it to end a workflow activation (see the run workflow's pacer).
PAUSE_ACTIVITY: Final = "pause"


def callbacks_workflow_id(run_id: str) -> str:
    return f"{run_id}:callbacks"


def callbacks_task_queue(task_queue: str) -> str:
    """Deliveries have their own queue, beside the runs' (worker/runner.py)."""
    return f"{task_queue}-callbacks"
