"""A task queue's backlog as the KEDA Temporal scaler reads it: DescribeTaskQueue with stats, per type.

KEDA's scaler (kedacore/keda `pkg/scalers/temporal_scaler.go`, unversioned mode) calls DescribeTaskQueue
once per queue type (activity, workflow and nexus unless `queueTypes` narrows them) with
`ReportStats: true` and sums `stats.approximate_backlog_count`; this module makes the same call, so a
test can see the number the autoscaler would scale on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

QueueType = Literal["workflow", "activity", "nexus"]
# KEDA's `queueTypes` names and its default when the trigger gives none (`temporalDefaultQueueTypes`).
QUEUE_TYPES: dict[QueueType, TaskQueueType.ValueType] = {
    "workflow": TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    "activity": TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    "nexus": TaskQueueType.TASK_QUEUE_TYPE_NEXUS,
}
ALL_QUEUE_TYPES: tuple[QueueType, ...] = ("activity", "workflow", "nexus")


async def backlog_by_type(
    client: Client,
    task_queue: str,
    queue_types: Sequence[QueueType] = ALL_QUEUE_TYPES,
    *,
    namespace: str | None = None,
) -> dict[QueueType, int]:
    """The approximate backlog of each queue type of `task_queue` (the client's namespace by default)."""
    counts: dict[QueueType, int] = {}
    for queue_type in queue_types:
        response = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=namespace or client.namespace,
                task_queue=TaskQueue(name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
                task_queue_type=QUEUE_TYPES[queue_type],
                report_stats=True,
            )
        )
        # No stats (an older server): no backlog seen, as KEDA counts it.
        counts[queue_type] = response.stats.approximate_backlog_count if response.HasField("stats") else 0
    return counts


async def queue_backlog(
    client: Client,
    task_queue: str,
    queue_types: Sequence[QueueType] = ALL_QUEUE_TYPES,
    *,
    namespace: str | None = None,
) -> int:
    """The backlog KEDA's Temporal scaler reports for `task_queue`: the sum over `queue_types`."""
    return sum((await backlog_by_type(client, task_queue, queue_types, namespace=namespace)).values())
