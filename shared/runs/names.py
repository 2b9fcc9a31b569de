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
# Large batches (docs/design/large-batches.md): a batch workflow over chunk workflows, and their activities.
BATCH_WORKFLOW: Final = "RunBatch"
CHUNK_WORKFLOW: Final = "RunBatchChunk"
BATCH_PROGRESS_QUERY: Final = "batch_progress"
STORE_BATCH_ACTIVITY: Final = "store_batch"
CHUNK_CONTEXT_ACTIVITY: Final = "chunk_context"
LOAD_ITEMS_ACTIVITY: Final = "load_items"
STORE_CHUNK_OUTPUT_ACTIVITY: Final = "store_chunk_output"
SEAL_BATCH_ACTIVITY: Final = "seal_batch"
MERGE_LISTS_ACTIVITY: Final = "merge_lists"
# Resume (issue 19): the memo entries of many invocations looked up at once (a chunk's reused items).
MEMO_LOOKUP_ACTIVITY: Final = "memo_lookup"
# The usage of a batch that failed or was cancelled: what its chunks kept, read back in one activity.
TALLY_CHUNKS_ACTIVITY: Final = "tally_chunks"

PROGRESS_QUERY: Final = "progress"
EVENTS_QUERY: Final = "events"
CANCEL_SIGNAL: Final = "cancel"
# The same request as an update: the workflow answers whether the run will still end CANCELLED.
CANCEL_UPDATE: Final = "request_cancel"

# Keyword search attributes, registered on the dev server at start (§9.1).
TENANT_ATTRIBUTE: Final = "MethodflowTenant"
PIPE_CODE_ATTRIBUTE: Final = "MethodflowPipeCode"
STATE_ATTRIBUTE: Final = "MethodflowState"
SEARCH_ATTRIBUTES: Final = (TENANT_ATTRIBUTE, PIPE_CODE_ATTRIBUTE, STATE_ATTRIBUTE)
WORKER_POLICY_ACTIVITY: Final = "worker_policy"
# A no-op local activity: the walk awaits it to end a workflow activation (see the run workflow's pacer).
PAUSE_ACTIVITY: Final = "pause"


# Run ids never hold a '/' (http-api.md §4.1), so it can separate the tenant from the run id.
_TENANT_SEPARATOR: Final = "/"


def run_workflow_id(tenant_key: str, run_id: str) -> str:
    """The workflow id of a tenant's run: run ids are one namespace per tenant (http-api.md §7)."""
    return f"{tenant_key}{_TENANT_SEPARATOR}{run_id}"


def run_id_of(workflow_id: str) -> str:
    """The caller's run id inside a run's workflow id (a run started before tenant scoping: the id itself)."""
    return workflow_id.rpartition(_TENANT_SEPARATOR)[2]


def tenant_key_of(workflow_id: str) -> str | None:
    """The tenant segment of a run's workflow id; None for a run started before tenant scoping."""
    tenant, separator, _ = workflow_id.rpartition(_TENANT_SEPARATOR)
    return tenant if separator else None


def callbacks_workflow_id(run_workflow_id: str) -> str:
    """The deliveries of a run: beside its workflow, so scoped by tenant as the run is."""
    return f"{run_workflow_id}:callbacks"


def batch_workflow_id(parent_workflow_id: str, key: str) -> str:
    """The batch workflow of the batch `key` (`batch_plan.batch_key`) met in `parent_workflow_id`."""
    return f"{parent_workflow_id}/batch/{key}"


def chunk_workflow_id(batch_workflow_id: str, index: int) -> str:
    return f"{batch_workflow_id}/chunk/{index}"


def callbacks_task_queue(task_queue: str) -> str:
    """Deliveries have their own queue, beside the runs' (worker/runner.py)."""
    return f"{task_queue}-callbacks"
