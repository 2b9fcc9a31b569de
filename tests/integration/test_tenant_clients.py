"""The real clients under tenant-scoped run ids (http-api.md §7): two API-key tenants, one id each way.

pipelex-sdk sends `Idempotency-Key` on `start`; two tenants sending the same key each get their own run,
read back with that one id, and listed only to its owner. The mthds client's blocking `execute` under a
shared `pipeline_run_id` answers each tenant its own result.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from mthds.runners.api.client import MthdsAPIClient
from pipelex_sdk.client import PipelexAPIClient
from pipelex_sdk.runs import RunStatus, WaitForResultOptions

from tests.helpers.run_stack import run_stack
from tests.integration.test_runs import GREET

TENANT_KEYS = {"acme": "acme-sdk-key", "globex": "globex-sdk-key"}
AUTH = {"auth_mode": "api_key", "api_key": ",".join(f"{tenant}:{key}" for tenant, key in TENANT_KEYS.items())}


async def test_pipelex_sdk_tenants_sharing_an_idempotency_key_each_get_their_own_run(
    temporal_address: str, tmp_path: Path
) -> None:
    key = f"order-{uuid.uuid4()}"
    async with run_stack(temporal_address, tmp_path, api_overrides=AUTH) as stack:
        clients = {
            tenant: PipelexAPIClient(api_key=api_key, base_url=stack.base_url, request_timeout_seconds=60)
            for tenant, api_key in TENANT_KEYS.items()
        }
        try:
            run_ids: dict[str, str] = {}
            for tenant, client in clients.items():
                started = await client.start(
                    files={"greet.mthds": GREET}, inputs={"name": tenant}, idempotency_key=key
                )
                run_ids[tenant] = started.pipeline_run_id
            assert run_ids["acme"] == run_ids["globex"] == key
            for tenant, client in clients.items():
                options = WaitForResultOptions(interval_seconds=0.1, timeout_seconds=60)
                results = await client.wait_for_result(key, options)
                assert results.main_stuff == {"text": f">> Hello, {tenant}! <<"}
                status = await client.get_run_status(key)
                assert status.status == RunStatus.COMPLETED
                page = await client.list_runs("any-method", limit=100)
                assert [item.pipeline_run_id for item in page.items].count(key) == 1
        finally:
            for client in clients.values():
                await client.close()


async def test_mthds_client_tenants_sharing_a_run_id_each_get_their_own_result(
    temporal_address: str, tmp_path: Path
) -> None:
    run_id = f"shared-{uuid.uuid4()}"
    async with run_stack(temporal_address, tmp_path, api_overrides=AUTH) as stack:
        for tenant, api_key in TENANT_KEYS.items():
            async with MthdsAPIClient(
                api_key=api_key, base_url=stack.base_url, request_timeout_seconds=60
            ) as client:
                answer = await client.execute(
                    files={"greet.mthds": GREET}, inputs={"name": tenant}, extra={"pipeline_run_id": run_id}
                )
                assert answer.pipeline_run_id == run_id
                memory = answer.pipe_output.working_memory
                assert memory.root["wrapped"].content == {"text": f">> Hello, {tenant}! <<"}
