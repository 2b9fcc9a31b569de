"""schemathesis against the served OpenAPI document: every documented route, with auth off and on.

The API runs as it is deployed (uvicorn on a loopback socket, the session's Temporal dev server, callback
signing configured), and each auth mode has its own server. Every generated request must get an answer
that is no 5xx and conforms to the document: a documented status, its content type, its schema and its
headers. With auth on, the document is read as that deployment's (the credential required), and
schemathesis also checks that each route refuses a request without it or with a wrong one. The example
count is bounded so the module stays a CI test, not a soak.
"""

# schemathesis types its checks and `parametrize` with a bare generic `Case`: pyright strict reads them as
# partially unknown, which says nothing about this module's own types.
# pyright: reportUnknownVariableType=false, reportUnknownMemberType=false, reportUnknownParameterType=false
# pyright: reportUntypedFunctionDecorator=false, reportMissingTypeArgument=false

from __future__ import annotations

import asyncio
import copy
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import CheckContext, CheckFunction, not_a_server_error
from schemathesis.core.transport import Response
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from temporalio.client import Client

from api.main import create_app
from api.settings import ApiSettings
from tests.helpers.api_server import running_api_server

API_KEY = "fuzz-key-0123456789abcdef"
CHECKS: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# No worker runs here, so a build's run never ends: the Pipe Builder answers its documented 504
# `provider.timeout` after BUILD_TIMEOUT_SECONDS, by design. There, only a 500 is a server's fault.
BUILD_ROUTES = {"/v1/build/pipeline", "/api/v1/pipe-builder/build"}


def not_an_unexpected_error(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """No 500: the service's answer to a fault it did not expect (`runtime.unexpected`)."""
    del ctx
    if response.status_code == 500:
        msg = f"{case.method} {case.path} answered 500: {response.text[:500]}"
        raise AssertionError(msg)
    return None


def _checks(case: Case) -> list[CheckFunction]:
    if case.path in BUILD_ROUTES:
        return [not_an_unexpected_error, *CHECKS[1:]]
    return CHECKS


# Per route and auth mode; schemathesis adds a few explicit and boundary cases of its own.
EXAMPLES_PER_ROUTE = 5
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES_PER_ROUTE,
    deadline=None,
    # One served API per auth mode is the point: it is reused across examples on purpose.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# The document the app serves, read at collection so each route is a test of its own; `session` checks
# the running server serves this very document. (`schemathesis.pytest.from_fixture` would read it from
# the server, but its lazy loading does not run under pytest 9: it sets the item's `_nodeid`.)
DOCUMENT: dict[str, Any] = create_app(ApiSettings()).openapi()


def _with_auth_required(document: dict[str, Any]) -> dict[str, Any]:
    """The document as a deployment with auth on reads: where a credential is optional, it is required."""
    required = copy.deepcopy(document)
    for item in required["paths"].values():
        for operation in item.values():
            if "security" in operation:
                operation["security"] = [{"bearer": []}]
    return required


auth_off = schemathesis.openapi.from_dict(DOCUMENT)
auth_on = schemathesis.openapi.from_dict(_with_auth_required(DOCUMENT))
# schemathesis' coverage phase (boundary values, missing and mistyped members, for every parameter) is
# three quarters of the time: run once, with auth off. With auth on, the examples and generated cases
# check the same routes behind the key, and `ignored_auth` that none answers without it.
auth_on.config.phases.coverage.enabled = False


async def _end_runs_of(temporal_address: str, task_queue: str) -> None:
    """Terminate the runs the fuzzing started (the examples' runs): no worker will ever end them, and they
    must not stay open in the session's Temporal beside other tests' runs."""
    client = await Client.connect(temporal_address)
    async for execution in client.list_workflows(
        f"TaskQueue = '{task_queue}' AND ExecutionStatus = 'Running'"
    ):
        await client.get_workflow_handle(execution.id, run_id=execution.run_id).terminate("fuzzing ended")


def _serve(temporal_address: str, data_dir: Path, auth_mode: str) -> Iterator[str]:
    task_queue = f"fuzz-{uuid.uuid4()}"
    env = {
        "TEMPORAL_ADDRESS": temporal_address,
        "TEMPORAL_TASK_QUEUE": task_queue,
        "DATA_DIR": str(data_dir),
        "AUTH_MODE": auth_mode,
        "API_KEY": API_KEY,
        # Configured as deployed: a callback URL is checked, not refused as a misconfiguration (500).
        "COMPLETION_CALLBACK_SECRET": "whsec_" + "fuzz" * 8,
        # No worker runs here: a run that starts never ends, so `/execute` and a build must not wait long.
        "EXECUTE_WAIT_SECONDS": "0.2",
        "BUILD_TIMEOUT_SECONDS": "1",
    }
    try:
        with running_api_server(env) as base_url, requests.Session() as session:
            served = session.get(f"{base_url}/openapi.json", timeout=30)
            assert served.json() == DOCUMENT, "the running server serves another document than the one fuzzed"
            yield base_url
    finally:
        asyncio.run(_end_runs_of(temporal_address, task_queue))


@pytest.fixture(scope="module")
def open_api(temporal_address: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _serve(temporal_address, tmp_path_factory.mktemp("fuzz-open"), "none")


@pytest.fixture(scope="module")
def keyed_api(temporal_address: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _serve(temporal_address, tmp_path_factory.mktemp("fuzz-keyed"), "api_key")


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@auth_off.parametrize()
@FUZZ_SETTINGS
def test_with_auth_off_every_answer_conforms(case: Case, open_api: str, session: requests.Session) -> None:
    case.call_and_validate(base_url=open_api, session=session, checks=_checks(case), timeout=30)


@auth_on.parametrize()
@FUZZ_SETTINGS
def test_with_auth_on_every_answer_conforms_and_the_key_is_enforced(
    case: Case, keyed_api: str, session: requests.Session
) -> None:
    case.call_and_validate(
        base_url=keyed_api,
        session=session,
        headers={"Authorization": f"Bearer {API_KEY}"},
        checks=[*_checks(case), ignored_auth],
        timeout=30,
    )
