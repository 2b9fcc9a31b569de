"""A Temporal client interceptor that tells the API's `TemporalHealth` what each call met.

A call that fails with Temporal unreachable marks it down; any call that gets an answer marks it up; a
call still unanswered after `SLOW_CALL_SECONDS` has the health probe Temporal in the background. Every
route's calls pass here, so none has to report an outage itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from temporalio import client
from temporalio.service import RPCError

from api.temporal_health import TemporalHealth, is_unreachable

Answer = TypeVar("Answer")
# A call still unanswered after this long makes the health probe Temporal (once per interval): with
# Temporal gone, the SDK retries for ~10 s, and the requests behind it should not wait as long.
SLOW_CALL_SECONDS = 0.5


class HealthInterceptor(client.Interceptor):
    def __init__(self, health: TemporalHealth) -> None:
        self.health = health

    def intercept_client(self, next: client.OutboundInterceptor) -> client.OutboundInterceptor:
        return _Observed(next, self.health)


class _Observed(client.OutboundInterceptor):
    """The calls the API makes (start, describe, count, query, signal, cancel, terminate, update)."""

    def __init__(self, next: client.OutboundInterceptor, health: TemporalHealth) -> None:
        super().__init__(next)
        self.health = health

    async def _observed(self, call: Awaitable[Answer]) -> Answer:
        slow = asyncio.get_running_loop().call_later(SLOW_CALL_SECONDS, self.health.suspect)
        try:
            answer = await call
        except RPCError as exc:
            if is_unreachable(exc):
                self.health.note_unreachable()
            raise
        finally:
            slow.cancel()
        self.health.note_reachable()
        return answer

    async def start_workflow(self, input: client.StartWorkflowInput) -> client.WorkflowHandle[Any, Any]:
        return await self._observed(super().start_workflow(input))

    async def describe_workflow(
        self, input: client.DescribeWorkflowInput
    ) -> client.WorkflowExecutionDescription:
        return await self._observed(super().describe_workflow(input))

    async def count_workflows(self, input: client.CountWorkflowsInput) -> client.WorkflowExecutionCount:
        return await self._observed(super().count_workflows(input))

    async def query_workflow(self, input: client.QueryWorkflowInput) -> Any:
        return await self._observed(super().query_workflow(input))

    async def signal_workflow(self, input: client.SignalWorkflowInput) -> None:
        await self._observed(super().signal_workflow(input))

    async def cancel_workflow(self, input: client.CancelWorkflowInput) -> None:
        await self._observed(super().cancel_workflow(input))

    async def terminate_workflow(self, input: client.TerminateWorkflowInput) -> None:
        await self._observed(super().terminate_workflow(input))

    async def start_workflow_update(
        self, input: client.StartWorkflowUpdateInput
    ) -> client.WorkflowUpdateHandle[Any]:
        return await self._observed(super().start_workflow_update(input))
