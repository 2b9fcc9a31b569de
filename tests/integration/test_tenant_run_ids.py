"""Run ids are one namespace per tenant (http-api.md §7), over real HTTP on the real Temporal dev server.

Two JWT identities, and two API-key tenants, each start a run under the same `pipeline_run_id` and the
same `Idempotency-Key`: each gets its own run (202, never a 409), reads it on every run route with its
own id, and learns nothing of the other's. Runs of different auth modes are apart too, and a run
started before ids were scoped (its workflow id is the bare run id) stays readable by its caller.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from api.auth import SINGLE_TENANT, AuthMode, Caller
from api.run_records import read_run, read_spec
from shared.runs.names import RUN_WORKFLOW, STATE_ATTRIBUTE, TENANT_ATTRIBUTE, run_workflow_id
from shared.runs.workflow_io import RunSpec
from tests.helpers.api_server import assert_problem
from tests.helpers.callback_receiver import CallbackReceiver, serving
from tests.helpers.run_stack import RunStack, run_stack
from tests.helpers.sse import read_events
from tests.integration.test_runs import GREET
from worker.temporal_connection import connect

SECRET = "tenant-ids-secret-" + "x" * 46  # 64 bytes: PyJWT warns about short HMAC keys
JWT_MODE: dict[str, Any] = {"auth_mode": AuthMode.JWT, "jwt_secret_key": SecretStr(SECRET)}
KEY_MODE: dict[str, Any] = {
    "auth_mode": AuthMode.API_KEY,
    "api_key": SecretStr("acme:acme-key-1,globex:globex-key-1,plain-key-1"),
}
CALLBACK_SECRET = "tenant-ids-callbacks"  # noqa: S105 -- signs test events only
CALLBACKS: dict[str, Any] = {
    "allow_private_callback_urls": True,
    "completion_callback_secret": CALLBACK_SECRET,
}
WORKER_CALLBACKS: dict[str, Any] = {
    "completion_callback_secret": CALLBACK_SECRET,
    "allow_private_callback_urls": True,
}


def bearer_jwt(subject: str) -> dict[str, str]:
    token = jwt.encode({"sub": subject}, SECRET, algorithm="HS256")  # pyright: ignore[reportUnknownMemberType]
    return {"Authorization": f"Bearer {token}"}


def bearer_key(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def body(name: str, **extra: object) -> dict[str, Any]:
    return {"mthds_contents": [GREET], "inputs": {"name": name}, **extra}


@pytest.fixture
async def temporal(temporal_address: str) -> Client:
    return await connect(temporal_address)


async def assert_own_run_on_every_route(
    stack: RunStack, run_id: str, headers: dict[str, str], name: str, others: list[str]
) -> None:
    """Every run route answers the caller's run under its own id, and nothing of the others' names."""
    expected = f">> Hello, {name}! <<"
    final = await stack.wait_for_end(run_id, headers=headers)
    assert final["state"] == "COMPLETED", final
    record = await stack.client.get(f"/v1/runs/{run_id}", headers=headers)
    assert record.status_code == 200, record.text
    assert record.json()["inputs"] == {"name": name}
    assert record.json()["pipeline_run_id"] == run_id
    results = await stack.client.get(f"/v1/runs/{run_id}/results", headers=headers)
    assert results.status_code == 200, results.text
    assert results.json()["main_stuff"] == {"text": expected}
    progress = await stack.client.get(f"/v1/runs/{run_id}/progress", headers=headers)
    assert progress.status_code == 200, progress.text
    assert progress.json()["pipeline_run_id"] == run_id
    deliveries = await stack.client.get(f"/v1/runs/{run_id}/deliveries", headers=headers)
    assert deliveries.status_code == 200, deliveries.text
    events = await read_events(stack.client, f"/v1/runs/{run_id}/events", headers=headers)
    assert events[-1].event == "run.finished"
    assert events[-1].data["pipeline_run_id"] == run_id
    assert events[-1].data["output"] == {"text": expected}
    cancel = await stack.client.post(f"/v1/runs/{run_id}/cancel", headers=headers)
    assert_problem(cancel, 409, "run.already_ended")
    listed = await stack.client.get("/v1/runs?limit=100", headers=headers)
    assert listed.status_code == 200, listed.text
    assert run_id in {item["pipeline_run_id"] for item in listed.json()["items"]}
    for response in (record, results, progress, deliveries, listed):
        for other in others:
            assert other not in response.text


async def two_tenants_share_an_id(stack: RunStack, first: dict[str, str], second: dict[str, str]) -> None:
    run_id = f"order-{uuid.uuid4()}"
    key = f"key-{uuid.uuid4()}"
    for headers, name in ((first, "Ada"), (second, "Bob")):
        started = await stack.client.post(
            "/v1/start", json=body(name, pipeline_run_id=run_id), headers=headers
        )
        assert started.status_code == 202, started.text
        assert started.json()["pipeline_run_id"] == run_id
        keyed = await stack.client.post(
            "/v1/start", json=body(name * 2), headers={**headers, "Idempotency-Key": key}
        )
        assert keyed.status_code == 202, keyed.text
    keyed_id = keyed.json()["pipeline_run_id"]
    for headers, name, other in ((first, "Ada", "Bob"), (second, "Bob", "Ada")):
        await assert_own_run_on_every_route(stack, run_id, headers, name, [other])
        await assert_own_run_on_every_route(stack, keyed_id, headers, name * 2, [other * 2])
        # The same request again is the caller's own run (200), another body its own conflict (409).
        again = await stack.client.post("/v1/start", json=body(name, pipeline_run_id=run_id), headers=headers)
        assert again.status_code == 200, again.text
        assert again.json()["state"] == "COMPLETED"
        other_body = body(other + "!", pipeline_run_id=run_id)
        assert_problem(
            await stack.client.post("/v1/start", json=other_body, headers=headers),
            409,
            "request.idempotency_conflict",
        )
        executed = await stack.client.post(
            "/v1/execute", json=body(name, pipeline_run_id=run_id), headers=headers
        )
        assert executed.status_code == 200, executed.text
        assert executed.json()["pipe_output"]["working_memory"]["root"]["wrapped"]["content"] == {
            "text": f">> Hello, {name}! <<"
        }


async def test_two_jwt_identities_each_have_their_own_run_under_one_id(
    temporal_address: str, tmp_path: Path
) -> None:
    async with run_stack(temporal_address, tmp_path, api_overrides=JWT_MODE) as stack:
        await two_tenants_share_an_id(stack, bearer_jwt("alice@example.com"), bearer_jwt("bob@example.com"))


async def test_two_api_key_tenants_each_have_their_own_run_under_one_id(
    temporal_address: str, tmp_path: Path
) -> None:
    async with run_stack(temporal_address, tmp_path, api_overrides=KEY_MODE) as stack:
        await two_tenants_share_an_id(stack, bearer_key("acme-key-1"), bearer_key("globex-key-1"))
        # The plain key is a tenant of its own, apart from both named ones.
        await two_tenants_share_an_id(stack, bearer_key("plain-key-1"), bearer_key("acme-key-1"))


async def test_a_tenants_callback_names_its_own_run(temporal_address: str, tmp_path: Path) -> None:
    run_id = f"hooked-{uuid.uuid4()}"
    async with (
        serving(CallbackReceiver([200])) as receiver,
        run_stack(
            temporal_address,
            tmp_path,
            api_overrides={**JWT_MODE, **CALLBACKS},
            worker_overrides=WORKER_CALLBACKS,
        ) as stack,
    ):
        for subject, name in (("alice@example.com", "Ada"), ("bob@example.com", "Bob")):
            headers = bearer_jwt(subject)
            payload = body(name, pipeline_run_id=run_id, callback_urls=[receiver.url])
            assert (await stack.client.post("/v1/start", json=payload, headers=headers)).status_code == 202
            await stack.wait_for_end(run_id, headers=headers)
        events = await receiver_events(receiver, 2)
        assert {event["output"]["text"] for event in events} == {">> Hello, Ada! <<", ">> Hello, Bob! <<"}
        for event in events:
            assert event["pipeline_run_id"] == run_id
            assert event["result_url"] == f"{stack.base_url}/v1/runs/{run_id}/results"
        # One receiver, one run id, two tenants: two events a receiver must not take for one retried event.
        assert len({item.headers["webhook-id"] for item in receiver.answered(200)}) == 2


async def receiver_events(receiver: CallbackReceiver, count: int) -> list[dict[str, Any]]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while len(receiver.answered(200)) < count and loop.time() < deadline:  # noqa: ASYNC110 -- the receiver records, it does not signal
        await asyncio.sleep(0.05)
    return [json.loads(item.body) for item in receiver.answered(200)]


async def test_runs_of_different_auth_modes_are_apart(
    temporal_address: str, tmp_path: Path, temporal: Client
) -> None:
    run_id = f"moded-{uuid.uuid4()}"
    async with run_stack(temporal_address, tmp_path) as open_stack:
        started = await open_stack.client.post("/v1/start", json=body("Ada", pipeline_run_id=run_id))
        assert started.status_code == 202, started.text
        await open_stack.wait_for_end(run_id)
        async with run_stack(temporal_address, tmp_path, api_overrides=KEY_MODE) as keyed_stack:
            plain = bearer_key("plain-key-1")
            # The run without auth is not the plain key's, though both once were "single-tenant".
            assert_problem(
                await keyed_stack.client.get(f"/v1/runs/{run_id}", headers=plain), 404, "run.not_found"
            )
            listed = await keyed_stack.client.get("/v1/runs?limit=100", headers=plain)
            assert run_id not in listed.text
            own = await keyed_stack.client.post(
                "/v1/start", json=body("Bob", pipeline_run_id=run_id), headers=plain
            )
            assert own.status_code == 202, own.text
            # No worker polls the keyed stack's queue: its run is only to be accepted.
            caller = Caller(SINGLE_TENANT, AuthMode.API_KEY)
            await temporal.get_workflow_handle(run_workflow_id(caller.tenant_key, run_id)).terminate(
                "test over"
            )
        record = await open_stack.client.get(f"/v1/runs/{run_id}")
        assert record.json()["inputs"] == {"name": "Ada"}


async def test_a_run_started_before_scoped_ids_stays_readable(
    temporal_address: str, tmp_path: Path, temporal: Client
) -> None:
    """A legacy run (workflow id = run id, memo without tenant) started as the previous API did."""
    template_id = f"template-{uuid.uuid4()}"
    legacy_id = f"legacy-{uuid.uuid4()}"
    async with run_stack(temporal_address, tmp_path) as stack:
        assert (
            await stack.client.post("/v1/start", json=body("Ada", pipeline_run_id=template_id))
        ).status_code == 202
        await stack.wait_for_end(template_id)
        caller = Caller(SINGLE_TENANT, AuthMode.NONE)
        record = await read_run(temporal, template_id, caller=caller)
        assert record is not None
        spec = await read_spec(temporal, record)
        assert isinstance(spec, RunSpec)
        legacy_spec = spec.model_copy(update={"run_id": legacy_id})
        await temporal.start_workflow(
            RUN_WORKFLOW,
            legacy_spec,
            id=legacy_id,
            task_queue=stack.task_queue,
            memo={
                "identity": SINGLE_TENANT,
                "request_digest": spec.request_digest,
                "pipe_code": spec.pipe_code,
                "callback_urls": [],
                "request_id": None,
                "created_at": spec.created_at,
            },
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(SearchAttributeKey.for_keyword(TENANT_ATTRIBUTE), SINGLE_TENANT),
                    SearchAttributePair(SearchAttributeKey.for_keyword(STATE_ATTRIBUTE), "STARTED"),
                ]
            ),
        )
        final = await stack.wait_for_end(legacy_id)
        assert final["state"] == "COMPLETED"
        results = await stack.client.get(f"/v1/runs/{legacy_id}/results")
        assert results.status_code == 200, results.text
        assert results.json()["main_stuff"] == {"text": ">> Hello, Ada! <<"}
        listed = await stack.client.get("/v1/runs?limit=100")
        assert legacy_id in {item["pipeline_run_id"] for item in listed.json()["items"]}
    async with run_stack(temporal_address, tmp_path, worker=False, api_overrides=JWT_MODE) as jwt_stack:
        headers = bearer_jwt("alice@example.com")
        assert_problem(
            await jwt_stack.client.get(f"/v1/runs/{legacy_id}", headers=headers), 404, "run.not_found"
        )
        assert legacy_id not in (await jwt_stack.client.get("/v1/runs?limit=100", headers=headers)).text
