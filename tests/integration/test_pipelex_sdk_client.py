"""The real `pipelex-sdk` client (`PipelexAPIClient`, PyPI 0.53.0), unchanged, against the running service.

Drives the durable run lifecycle as the SDK does (http-api.md §9, §15): start with an idempotency key,
status, progress and results while the run is held open, `wait_for_result`, `list_runs`,
`get_run_detail`, `start_and_wait`, and the SDK's typed errors for an unknown run and a failed run.
A gated PipeFunc keeps the run RUNNING until the test opens it, so "still running" never hangs on timing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pipelex_sdk.client import PipelexAPIClient
from pipelex_sdk.errors import ApiResponseError, RunFailedError
from pipelex_sdk.product_models import RunPage
from pipelex_sdk.runs import (
    PollInfo,
    RunArtifact,
    RunProgress,
    RunProgressStatus,
    RunResultCompleted,
    RunResultFailed,
    RunResultRunning,
    RunStatus,
    WaitForResultOptions,
)
from pipelex_sdk.validation_models import PipelexInvalidReport, PipelexValidationReport

from shared.runtime.function_registry import DEFAULT_REGISTRY, pipe_function
from shared.runtime.stuff import Stuff
from tests.helpers.run_functions import FAILING
from tests.helpers.run_stack import run_stack

GATED = "tests.sdk_client.gated_echo"
_OPEN_GATES: set[str] = set()
_GATE_LIMIT_SECONDS = 60.0  # a test that never opens its gate still lets the worker shut down


async def gated_echo(inputs: Mapping[str, Stuff]) -> dict[str, Any]:
    """Holds its run RUNNING until the test opens the gate named by the text input, then echoes it."""
    text = str(next(iter(inputs.values())).content.get("text", ""))
    waited = 0.0
    while text not in _OPEN_GATES and waited < _GATE_LIMIT_SECONDS:
        await asyncio.sleep(0.02)
        waited += 0.02
    return {"text": f"{text}!"}


if DEFAULT_REGISTRY.get(GATED) is None:
    pipe_function(GATED)(gated_echo)

FLOW = f"""domain = "sdk"
main_pipe = "flow"

[pipe.hold]
type = "PipeFunc"
description = "Waits for its gate"
inputs = {{ name = "Text" }}
output = "Text"
function_name = "{GATED}"

[pipe.shout]
type = "PipeCompose"
description = "Wraps"
inputs = {{ held = "Text" }}
output = "Text"
template = ">> {{{{ held }}}} <<"

[pipe.flow]
type = "PipeSequence"
description = "Holds then wraps"
inputs = {{ name = "Text" }}
output = "Text"
steps = [{{ pipe = "hold", result = "held" }}, {{ pipe = "shout", result = "shouted" }}]
"""

BROKEN = f"""domain = "funcs"

[pipe.broken]
type = "PipeFunc"
description = "Always fails"
inputs = {{ name = "Text" }}
output = "Text"
function_name = "{FAILING}"
"""

API_KEY = "sdk-key"
AUTH = {"auth_mode": "api_key", "api_key": f"rotated-out-key,{API_KEY}"}
_T = TypeVar("_T")


def _client(base_url: str) -> PipelexAPIClient:
    return PipelexAPIClient(api_key=API_KEY, base_url=base_url, request_timeout_seconds=60)


async def _eventually(
    read: Callable[[], Awaitable[_T]], done: Callable[[_T], bool], *, within: float = 30
) -> _T:
    """Read until `done` holds (visibility and the state attribute lag a little); generous deadline only."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await read()
        if done(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            msg = f"condition never held; last read: {value!r}"
            raise AssertionError(msg)
        await asyncio.sleep(0.05)


def _window(created_at: str) -> tuple[str, str]:
    """A creation window around a run: instants with an offset, as `list_runs` requires."""
    created = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    return (created - timedelta(seconds=2)).isoformat(), (created + timedelta(seconds=30)).isoformat()


def _listed(page: RunPage, run_id: str) -> RunStatus | None:
    return next((item.status for item in page.items if item.pipeline_run_id == run_id), None)


async def test_the_lifecycle_while_running_and_after(temporal_address: str, tmp_path: Path) -> None:
    gate = "lifecycle-gate"
    async with (
        run_stack(temporal_address, tmp_path, api_overrides=AUTH) as stack,
        _client(stack.base_url) as client,
    ):
        try:
            started = await client.start(
                files={"sdk.mthds": FLOW}, inputs={"name": gate}, idempotency_key="sdk-run-1"
            )
            run_id = started.pipeline_run_id
            assert run_id == "sdk-run-1"
            # A retry under the same key and body is the same run; another body under it is refused.
            again = await client.start(
                files={"sdk.mthds": FLOW}, inputs={"name": gate}, idempotency_key="sdk-run-1"
            )
            assert again.pipeline_run_id == run_id
            with pytest.raises(ApiResponseError) as conflict:
                await client.start(
                    files={"sdk.mthds": FLOW}, inputs={"name": "other"}, idempotency_key="sdk-run-1"
                )
            assert conflict.value.status == 409
            assert conflict.value.problem.code == "request.idempotency_conflict"

            # Held once the sequence's first step, the gated PipeFunc, has started.
            progress = await _eventually(
                lambda: client.get_run_progress(run_id),
                lambda snapshot: any(item.path == "sdk.flow/step_1" for item in snapshot.invocations),
            )
            assert progress.pipeline_run_id == run_id
            assert progress.mode == "live"
            assert progress.status == RunProgressStatus.RUNNING
            assert progress.version >= 1
            by_path = {item.path: item for item in progress.invocations}
            assert list(by_path) == ["sdk.flow", "sdk.flow/step_1"]
            assert by_path["sdk.flow"].pipe_type == "PipeSequence"
            assert by_path["sdk.flow/step_1"].pipe_code == "hold"
            assert by_path["sdk.flow/step_1"].pipe_ref == "sdk.hold"
            assert by_path["sdk.flow/step_1"].status == "running"

            running = await client.get_run_status(run_id)
            assert running.status == RunStatus.RUNNING
            assert running.pipeline_run_id == run_id
            assert running.pipe_code == "flow"
            assert running.error is None
            assert running.finished_at is None
            assert running.degraded is False
            assert running.request_id
            assert (running.model_extra or {})["progress"]["pipes_done"] == 0

            result = await client.get_run_result(run_id)
            assert isinstance(result, RunResultRunning)
            assert result.retry_after_seconds == 2

            # The dev server is shared by the whole session: a narrow creation window keeps the page ours.
            since, until = _window(running.created_at)
            unfinished = await _eventually(
                lambda: client.list_runs(
                    "any-method",
                    created_by="me",
                    created_from=since,
                    created_to=until,
                    status=[RunStatus.STARTED, RunStatus.RUNNING],
                ),
                lambda page: _listed(page, run_id) == RunStatus.RUNNING,
            )
            assert unfinished.next_cursor is None

            # The first poll finds the run held: it reports progress, then the gate opens before the next.
            snapshots: list[RunProgress] = []

            def open_gate(_info: PollInfo) -> None:
                _OPEN_GATES.add(gate)

            options = WaitForResultOptions(
                interval_seconds=0.1, timeout_seconds=60, on_poll=open_gate, on_progress=snapshots.append
            )
            results = await client.wait_for_result(run_id, options)
        finally:
            _OPEN_GATES.add(gate)
        assert results.main_stuff == {"text": f">> {gate}! <<"}
        assert results.working_memory is not None
        assert results.working_memory.aliases["main_stuff"] == "shouted"
        assert snapshots
        assert snapshots[0].status == RunProgressStatus.RUNNING

        ended = await client.get_run_status(run_id)
        assert ended.status == RunStatus.COMPLETED
        assert ended.finished_at
        final = await client.get_run_progress(run_id)
        assert final.status == RunProgressStatus.SUCCEEDED
        assert final.mode == "final"  # the run has ended: its snapshot no longer changes
        assert final.version >= progress.version
        assert {item.status for item in final.invocations} == {"succeeded"}

        narrowed = await client.get_run_result(run_id, artifacts=[RunArtifact.MAIN_STUFF])
        assert isinstance(narrowed, RunResultCompleted)
        assert narrowed.result.carries(RunArtifact.MAIN_STUFF)
        assert not narrowed.result.carries(RunArtifact.WORKING_MEMORY)

        detail = await client.get_run_detail(run_id)
        assert detail.status == RunStatus.COMPLETED
        assert detail.inputs == {"name": gate}
        assert detail.mthds_contents == [FLOW]
        assert detail.result_url == f"{stack.base_url}/v1/runs/{run_id}/results"

        listed = await _eventually(
            lambda: client.list_runs("any-method", created_from=since, created_to=until, limit=100),
            lambda page: _listed(page, run_id) == RunStatus.COMPLETED,
        )
        assert listed.next_cursor is None
        later = await client.list_runs("any-method", created_from=until)
        assert _listed(later, run_id) is None


async def test_start_and_wait_and_validate(temporal_address: str, tmp_path: Path) -> None:
    gate = "start-and-wait-gate"
    _OPEN_GATES.add(gate)  # nothing to hold here: the run goes straight through
    async with run_stack(temporal_address, tmp_path) as stack, _client(stack.base_url) as client:
        acknowledgements: list[str] = []
        results = await client.start_and_wait(
            files={"sdk.mthds": FLOW},
            inputs={"name": gate},
            wait_options=WaitForResultOptions(interval_seconds=0.1, timeout_seconds=60),
            on_started=lambda started: acknowledgements.append(started.pipeline_run_id),
        )
        assert results.main_stuff == {"text": f">> {gate}! <<"}
        # `start_and_wait` took the durable path (start + poll), not the blocking `/execute` fallback.
        assert len(acknowledgements) == 1
        assert results.pipeline_run_id == acknowledgements[0]

        assert (await client.health())["status"] == "ok"

        valid = await client.validate(files={"sdk.mthds": FLOW})
        assert isinstance(valid, PipelexValidationReport)
        assert valid.default_pipe_ref == "sdk.flow"
        assert "sdk.flow" in valid.pipe_io_contracts
        assert valid.rendered_markdown
        invalid = await client.validate(
            files={"sdk.mthds": FLOW.replace('output = "Text"', 'output = "Nope"', 1)}
        )
        assert isinstance(invalid, PipelexInvalidReport)
        assert [item.code for item in invalid.errors] == ["method.concept_unresolved"]
        assert invalid.rendered_markdown


async def test_an_unknown_run_is_the_sdks_not_found(temporal_address: str, tmp_path: Path) -> None:
    reads: list[Callable[[PipelexAPIClient], Awaitable[object]]] = [
        lambda client: client.get_run_status("no-such-run"),
        lambda client: client.get_run_progress("no-such-run"),
        lambda client: client.get_run_result("no-such-run"),
        lambda client: client.get_run_detail("no-such-run"),
        lambda client: client.wait_for_result("no-such-run", WaitForResultOptions(timeout_seconds=30)),
    ]
    async with (
        run_stack(temporal_address, tmp_path, worker=False) as stack,
        _client(stack.base_url) as client,
    ):
        for read in reads:
            # `ApiResponseError`, not `RunLifecycleUnavailableError`: the lifecycle exists, the run does not.
            with pytest.raises(ApiResponseError) as missing:
                await read(client)
            assert missing.value.status == 404
            assert missing.value.problem.code == "run.not_found"


async def test_a_failed_run_is_the_sdks_failure(temporal_address: str, tmp_path: Path) -> None:
    async with run_stack(temporal_address, tmp_path) as stack, _client(stack.base_url) as client:
        started = await client.start(pipe_code="broken", files={"funcs.mthds": BROKEN}, inputs={"name": "x"})
        run_id = started.pipeline_run_id
        with pytest.raises(RunFailedError) as failed:
            await client.wait_for_result(
                run_id, WaitForResultOptions(interval_seconds=0.1, timeout_seconds=60)
            )
        assert failed.value.run_id == run_id
        assert failed.value.status == RunStatus.FAILED
        assert failed.value.problem.code == "run.failed"
        run_error = failed.value.run_error
        assert run_error is not None
        assert run_error.code == "pipe.function_failed"
        assert run_error.location is not None
        assert run_error.location.pipe == "broken"

        result = await client.get_run_result(run_id)
        assert isinstance(result, RunResultFailed)
        assert result.status == RunStatus.FAILED
        assert result.error is not None
        assert result.error.code == "pipe.function_failed"

        status = await client.get_run_status(run_id)
        assert status.status == RunStatus.FAILED
        assert status.error is not None
        assert status.error.code == "pipe.function_failed"
        assert status.pipe_code == "broken"

        since, until = _window(status.created_at)
        listed = await _eventually(
            lambda: client.list_runs(
                "any-method", status=[RunStatus.FAILED], created_from=since, created_to=until
            ),
            lambda page: _listed(page, run_id) is not None,
        )
        assert _listed(listed, run_id) == RunStatus.FAILED
