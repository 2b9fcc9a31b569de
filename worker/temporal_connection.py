"""Connecting a worker to Temporal: the SDK's environment configuration, the pydantic converter, and the
interceptors every worker built on the client gets (tracing when on, activity log fields and metrics)."""

from __future__ import annotations

import asyncio
import os

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfigProfile
from temporalio.runtime import Runtime

from shared.runs.connection import sdk_environment
from worker.metrics import ActivityMetricsInterceptor
from worker.tracing import ActivityLogFieldsInterceptor, tracing_interceptors


async def connect(address: str | None = None, *, runtime: Runtime | None = None) -> Client:
    """A client for `address`, else `TEMPORAL_ADDRESS` (namespace, TLS, API key from the environment).

    `runtime`: the one exporting the SDK's metrics (`worker.metrics.serve_worker_metrics`), else the
    SDK's default. Tracing, when on, must be started before (`worker.tracing.start_tracing`).
    """
    profile = ClientConfigProfile.load(
        disable_file=True, override_env_vars=sdk_environment(os.environ, address=address)
    )
    return await Client.connect(
        **profile.to_client_connect_config(),
        data_converter=pydantic_data_converter,
        # Outermost first: the activity's span encloses its log fields and its measurement.
        interceptors=[*tracing_interceptors(), ActivityLogFieldsInterceptor(), ActivityMetricsInterceptor()],
        runtime=runtime,
    )


async def connect_when_healthy(address: str, *, within: float = 30) -> Client:
    """`connect`, tried again while a dev server that has just opened its port answers that its
    frontend is "not healthy yet" (seen on loaded machines, for a moment after the port opens)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            return await connect(address)
        except RuntimeError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)
