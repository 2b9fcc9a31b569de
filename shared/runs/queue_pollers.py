"""Which task queues no worker polls: the question both the API's `/ready` and a worker's `/ready` ask
Temporal (DescribeTaskQueue lists the pollers it saw in the last minutes). Pure: this builds the requests
and reads the answers; the callers send them with their own client.
"""

from __future__ import annotations

from collections.abc import Sequence

from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, DescribeTaskQueueResponse


def poller_requests(namespace: str, queues: Sequence[str]) -> list[DescribeTaskQueueRequest]:
    """One describe per queue, of its activity side: every queue of ours runs activities (the main and
    callbacks queues run workflows too, on the same workers)."""
    return [
        DescribeTaskQueueRequest(
            namespace=namespace,
            task_queue=TaskQueue(name=queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        )
        for queue in queues
    ]


def unpolled(queues: Sequence[str], answers: Sequence[DescribeTaskQueueResponse]) -> list[str]:
    """The queues whose describe answer lists no poller."""
    return [queue for queue, answer in zip(queues, answers, strict=True) if not answer.pollers]
