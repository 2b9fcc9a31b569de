"""The API's one Temporal client: connected lazily, shared by every request, and a 503 when unreachable.

The connection follows the SDK's environment configuration (`TEMPORAL_ADDRESS`, namespace, TLS, API
key), with the pydantic data converter the workers use.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from datetime import timedelta

from temporalio.api.common.v1 import Payloads
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfigProfile
from temporalio.service import RPCError

from api.problems import ProblemError
from shared.problems.catalogue import ProblemCode
from shared.runs.connection import sdk_environment

CONNECT_TIMEOUT_SECONDS = 5
HEALTH_TIMEOUT = timedelta(seconds=2)
UNAVAILABLE_RETRY_AFTER = 5
# Temporal refuses a request whose payloads exceed its blob size limit (`limit.blobSize.error`: 2 MiB by
# default and on Temporal Cloud). A run input over it is the request's fault, so it is refused before
# Temporal sees it, rather than read as an outage.
MAX_PAYLOAD_BYTES = 2 * 1024 * 1024


def temporal_unavailable(detail: str = "Temporal cannot be reached right now.") -> ProblemError:
    """503 `runtime.unavailable` (§4.5 step 8, §9.4): nothing was started; the same request may be sent again."""
    return ProblemError(
        ProblemCode.RUNTIME_UNAVAILABLE,
        detail,
        params={"component": "temporal"},
        retry_after=UNAVAILABLE_RETRY_AFTER,
    )


async def payload_size(client: Client, value: object) -> int:
    """The bytes `value` takes as a workflow input, encoded by the client's converter (codec included)."""
    return Payloads(payloads=await client.data_converter.encode([value])).ByteSize()


class TemporalGateway:
    """Holds the client; `client()` connects on first use and again after a failed connection."""

    def __init__(self, address: str | None = None, *, interceptors: Sequence[Interceptor] = ()) -> None:
        self.address = address
        self.interceptors = list(interceptors)  # metrics, log fields and tracing (api/main.py)
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                env = sdk_environment(os.environ, address=self.address)
                profile = ClientConfigProfile.load(disable_file=True, override_env_vars=env)
                try:
                    self._client = await asyncio.wait_for(
                        Client.connect(
                            **profile.to_client_connect_config(),
                            data_converter=pydantic_data_converter,
                            interceptors=self.interceptors,
                        ),
                        CONNECT_TIMEOUT_SECONDS,
                    )
                except (RPCError, RuntimeError, TimeoutError, OSError) as exc:
                    raise temporal_unavailable() from exc
            return self._client

    async def is_ready(self) -> bool:
        """A namespace describe within 2 s (§3 `/ready`)."""
        try:
            client = await self.client()
            await client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=client.namespace), timeout=HEALTH_TIMEOUT
            )
        except (ProblemError, RPCError, TimeoutError):
            return False
        return True
