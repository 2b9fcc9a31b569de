"""The API's one Temporal client: connected lazily, shared by every request, and a 503 when unreachable.

The connection follows the SDK's environment configuration (`TEMPORAL_ADDRESS`, namespace, TLS, API
key), with the pydantic data converter the workers use. Once a call finds Temporal unreachable, requests
are refused at once (api/temporal_health.py) until a probe finds it back, instead of each spending the
SDK's ~10 s of retries; a client interceptor sees every call's outcome, so no route has to report it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from temporalio.api.common.v1 import Payloads
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfigProfile
from temporalio.service import RPCError

from api.health_interceptor import HealthInterceptor
from api.problems import ProblemError
from api.progress_cache import ProgressCache
from api.temporal_health import PROBE_TIMEOUT_SECONDS, TemporalHealth, is_unreachable
from shared.problems.catalogue import ProblemCode
from shared.runs.connection import sdk_environment
from shared.runs.timestamps import rfc3339

CONNECT_TIMEOUT_SECONDS = 5
HEALTH_TIMEOUT = timedelta(seconds=2)
UNAVAILABLE_RETRY_AFTER = 5
# Temporal refuses a request whose payloads exceed its blob size limit (`limit.blobSize.error`: 2 MiB by
# default and on Temporal Cloud). A run input over it is the request's fault, so it is refused before
# Temporal sees it, rather than read as an outage.
MAX_PAYLOAD_BYTES = 2 * 1024 * 1024


def temporal_unavailable(
    detail: str = "Temporal cannot be reached right now.", *, extra: dict[str, Any] | None = None
) -> ProblemError:
    """503 `runtime.unavailable` (§4.5 step 8, §9.4): nothing was started; the same request may be sent again."""
    return ProblemError(
        ProblemCode.RUNTIME_UNAVAILABLE,
        detail,
        params={"component": "temporal", **(extra or {})},
        retry_after=UNAVAILABLE_RETRY_AFTER,
    )


async def payload_size(client: Client, value: object) -> int:
    """The bytes `value` takes as a workflow input, encoded by the client's converter (codec included)."""
    return Payloads(payloads=await client.data_converter.encode([value])).ByteSize()


class TemporalGateway:
    """Holds the client; `client()` connects on first use and again after a failed connection, and
    refuses at once while Temporal is known unreachable."""

    def __init__(self, address: str | None = None, *, interceptors: Sequence[Interceptor] = ()) -> None:
        self.address = address
        self.health = TemporalHealth(self._probe)
        # metrics, log fields and tracing (api/main.py), then the one that tells `health` what calls meet
        self.interceptors = [*interceptors, HealthInterceptor(self.health)]
        # The last progress each running run reported (api/progress_cache.py): Temporal's answers,
        # remembered for the reads it cannot answer.
        self.known_progress = ProgressCache()
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        """The client, or 503 `runtime.unavailable` (with `params.unreachable_since`, no call made
        beyond one shared probe) while Temporal is known unreachable."""
        if not await self.health.reachable():
            since = self.health.down_since
            detail = "Temporal cannot be reached right now; nothing was started."
            raise temporal_unavailable(
                detail,
                extra={"unreachable_since": rfc3339(since)} if since is not None else None,
            )
        return await self._connected()

    async def is_ready(self) -> bool:
        """A namespace describe within 2 s (§3 `/ready`); what it finds tells `health` too."""
        try:
            await self._describe_namespace(HEALTH_TIMEOUT)
        except ProblemError:  # no connection: `_connected` noted it
            return False
        except RPCError as exc:
            if is_unreachable(exc):
                self.health.note_unreachable()
            return False  # a slow or refusing Temporal is not ready, but it is not unreachable either
        except TimeoutError:
            return False
        self.health.note_reachable()
        return True

    async def _connected(self) -> Client:
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
                    self.health.note_unreachable()
                    raise temporal_unavailable() from exc
            return self._client

    async def _describe_namespace(self, rpc_timeout: timedelta) -> None:
        client = await self._connected()
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=client.namespace), timeout=rpc_timeout
        )

    async def _probe(self) -> None:
        """`health`'s probe: raises unless Temporal answers a namespace describe."""
        try:
            await self._describe_namespace(timedelta(seconds=PROBE_TIMEOUT_SECONDS))
        except ProblemError as exc:  # the connection failed: the probe's own failure
            raise RuntimeError(exc.detail) from exc
