"""The Python client (`client/`) against the real service: the API over real HTTP on loopback, a worker
and the Temporal dev server. Every method, its typed answers and errors, pagination, and its retries
against small loopback servers of our own that answer 503s, or a port nobody listens on.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
import uuid
from collections.abc import Awaitable, Callable, Generator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel

from client import (
    AccountProblem,
    AsyncMethodflowClient,
    InputProblem,
    MethodflowClient,
    MethodProblem,
    OperatorProblem,
    RetryPolicy,
    RunStillRunning,
    RuntimeProblem,
    ServiceUnavailable,
    WaitTimeout,
)
from tests.helpers.api_server import REPO_ROOT
from tests.helpers.run_functions import FAILING, SLOW
from tests.helpers.run_stack import run_stack
from tests.integration.test_run_bad_input import BATCH
from worker.dev_server import free_port

HELLO = (REPO_ROOT / "docs" / "examples" / "hello.mthds").read_text()
WELCOME = {"guest": "Ada", "message": "Hello, Ada! Your run is durable."}
FUNCS = f"""domain = "funcs"

[pipe.slow]
type = "PipeFunc"
description = "Slow echo"
inputs = {{ name = "Text" }}
output = "Text"
function_name = "{SLOW}"

[pipe.broken]
type = "PipeFunc"
description = "Always fails"
inputs = {{ name = "Text" }}
output = "Text"
function_name = "{FAILING}"
"""


def assert_sends_every_member(answer: BaseModel, *, left_out: frozenset[str] = frozenset()) -> None:
    """The served answer carried every member its model declares (the OpenAPI document does not
    describe the run routes' answers yet: tests/unit/test_client_openapi.py names them)."""
    missing = set(type(answer).model_fields) - answer.model_fields_set - left_out
    assert not missing, f"{type(answer).__name__}: the service did not send {sorted(missing)}"


async def test_a_run_from_start_to_results_and_every_read(temporal_address: str, tmp_path: Path) -> None:
    async with (
        run_stack(temporal_address, tmp_path) as stack,
        AsyncMethodflowClient(stack.base_url) as methodflow,
    ):
        run_id = f"client-{uuid.uuid4()}"
        started = await methodflow.start(
            mthds_contents=[HELLO], inputs={"name": "Ada"}, idempotency_key=run_id
        )
        assert started.pipeline_run_id == run_id
        assert started.state == "STARTED"
        assert_sends_every_member(started)
        words = [f"w{index}" for index in range(25)]
        batch = await methodflow.start(mthds_contents=[BATCH], inputs={"words": words})
        # The same key again is the same run, never a second one.
        again = await methodflow.start(mthds_contents=[HELLO], inputs={"name": "Ada"}, idempotency_key=run_id)
        assert again.pipeline_run_id == run_id

        ended = await methodflow.wait(run_id, within=30, interval=0.05)
        assert ended.state == "COMPLETED"
        assert ended.is_terminal
        assert_sends_every_member(ended)
        assert (await methodflow.status(run_id)).pipe_code == "welcome"
        progress = await methodflow.progress(run_id)
        assert progress.status == "succeeded"
        assert {item["pipe_code"] for item in progress.invocations} == {"welcome", "greet", "wrap"}
        assert_sends_every_member(progress)
        results = await methodflow.results(run_id)
        assert results is not None
        assert results.main_stuff == WELCOME
        assert results.tokens_usages == []
        assert_sends_every_member(results)
        deliveries = await methodflow.deliveries(run_id)
        assert deliveries.items == []
        assert_sends_every_member(deliveries)

        record = await methodflow.run(run_id)
        assert (record.state, record.pipe_code, record.is_terminal) == ("COMPLETED", "welcome", True)
        assert record.mthds_contents == [HELLO]
        assert record.inputs == {"name": "Ada"}
        assert record.result_url is not None
        assert record.result_url.endswith(f"/v1/runs/{run_id}/results")
        assert record.usage is not None
        assert record.usage.model_calls == 0  # the hello method calls no model
        assert_sends_every_member(record)
        assert_sends_every_member(record.usage)
        # Narrowed: only the members asked for are sent; the others read None.
        narrowed = await methodflow.results(run_id, artifacts=["main_stuff"])
        assert narrowed is not None
        assert narrowed.main_stuff == WELCOME
        assert narrowed.model_fields_set == {"pipeline_run_id", "main_stuff"}
        assert narrowed.working_memory is None

        # A list output, a page at a time.
        assert (await methodflow.wait(batch.pipeline_run_id, within=30, interval=0.05)).state == "COMPLETED"
        items = [item async for item in methodflow.result_items(batch.pipeline_run_id, page_size=10)]
        assert items == [{"text": f"<{word}>"} for word in words]
        last = await methodflow.result_items_page(batch.pipeline_run_id, offset=20, limit=10)
        assert last is not None
        assert (len(last.items), last.total, last.next_offset) == (5, 25, None)
        assert_sends_every_member(last)
        named = await methodflow.result_items_page(batch.pipeline_run_id, name="words", limit=3)
        assert named is not None
        assert (named.name, named.items, named.next_offset) == ("words", [{"text": w} for w in words[:3]], 3)

        listed = [run async for run in methodflow.runs(pipe_code="welcome", state="COMPLETED")]
        for _ in range(40):  # the listing reads Temporal's visibility store, updated a moment later
            if run_id in {run.pipeline_run_id for run in listed}:
                break
            await asyncio.sleep(0.1)
            listed = [run async for run in methodflow.runs(pipe_code="welcome", state="COMPLETED")]
        assert run_id in {run.pipeline_run_id for run in listed}
        assert_sends_every_member(await methodflow.runs_page(limit=1, pipe_code="welcome"))
        assert_sends_every_member(listed[0])

        with pytest.raises(InputProblem) as ended_already:
            await methodflow.cancel(run_id)
        assert (ended_already.value.status, ended_already.value.code) == (409, "run.already_ended")


async def test_execute_answers_the_main_output_and_a_failed_run_raises_its_problem(
    temporal_address: str, tmp_path: Path
) -> None:
    async with run_stack(temporal_address, tmp_path) as stack:
        with MethodflowClient(stack.base_url) as methodflow:
            # The blocking client in a thread: the stack's server runs on this test's event loop.
            done = await asyncio.to_thread(methodflow.execute, mthds_contents=[HELLO], inputs={"name": "Ada"})
            assert done.state == "COMPLETED"
            assert done.main_stuff == WELCOME
            assert_sends_every_member(done)
            await asyncio.to_thread(read_back_with_the_blocking_client, methodflow, done.pipeline_run_id)
            with pytest.raises(MethodProblem) as failed:
                await asyncio.to_thread(
                    methodflow.execute, mthds_contents=[FUNCS], pipe_code="broken", inputs={"name": "x"}
                )
            assert (failed.value.status, failed.value.code) == (422, "pipe.function_failed")
            run_id = failed.value.pipeline_run_id
            assert run_id is not None
            status = await asyncio.to_thread(methodflow.status, run_id)
            assert status.state == "FAILED"


def read_back_with_the_blocking_client(methodflow: MethodflowClient, run_id: str) -> None:
    """The blocking twins of the reads and the tooling the async tests go through."""
    record = methodflow.run(run_id)
    assert (record.state, record.inputs) == ("COMPLETED", {"name": "Ada"})
    narrowed = methodflow.results(run_id, artifacts=["main_stuff", "tokens_usages"])
    assert narrowed is not None
    assert narrowed.model_fields_set == {
        "pipeline_run_id",
        "main_stuff",
        "tokens_usages",
        "usage_assembly_error",
    }
    with pytest.raises(InputProblem) as single:
        list(methodflow.result_items(run_id))
    assert (single.value.status, single.value.params["field"]) == (422, "pipeline_run_id")
    assert methodflow.build_output(mthds_contents=[HELLO], format="json").output is not None
    assert methodflow.build_runner(mthds_contents=[HELLO]).python_code
    crate = methodflow.resolve(mthds_contents=[HELLO]).crate
    assert crate is not None
    assert methodflow.codegen("ts-zod", mthds_contents=[HELLO]).crate_fingerprint == crate["fingerprint"]
    assert methodflow.models_check("no-such-model-anywhere").resolution == "not_found"
    assert methodflow.ping().status == "ok"
    assert methodflow.ready().temporal == "ok"


async def test_cancel_then_results_is_run_failed(
    temporal_address: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLOW_SECONDS", "30")
    async with (
        run_stack(
            temporal_address, tmp_path, worker_overrides={"pipe_activity_heartbeat_seconds": 2}
        ) as stack,
        AsyncMethodflowClient(stack.base_url) as methodflow,
    ):
        began = (datetime.now(UTC) - timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
        started = await methodflow.start(mthds_contents=[FUNCS], pipe_code="slow", inputs={"name": "x"})
        run_id = started.pipeline_run_id
        assert await methodflow.results(run_id) is None  # still running: 202
        assert await methodflow.result_items_page(run_id) is None
        with pytest.raises(RunStillRunning) as too_soon:
            _ = [item async for item in methodflow.result_items(run_id)]
        assert too_soon.value.pipeline_run_id == run_id
        cancelled = await methodflow.cancel(run_id, reason="not needed")
        assert cancelled.cancel_requested
        assert_sends_every_member(cancelled)
        assert (await methodflow.wait(run_id, within=30, interval=0.1)).state == "CANCELLED"
        with pytest.raises(RuntimeProblem) as failed:
            await methodflow.results(run_id)
        assert (failed.value.status, failed.value.code) == (409, "run.failed")
        assert failed.value.params == {"run_status": "CANCELLED"}

        # A cancelled run resumes as a new run; a retried resume (same new id) finds it, not another.
        resumed = await methodflow.resume(run_id, pipeline_run_id=f"{run_id}-again")
        assert resumed.pipeline_run_id == f"{run_id}-again"
        assert (await methodflow.resume(run_id, pipeline_run_id=f"{run_id}-again")).pipeline_run_id == (
            resumed.pipeline_run_id
        )
        record = await methodflow.run(resumed.pipeline_run_id)
        assert record.model_extra is not None
        assert record.model_extra["resumed_from"] == run_id
        await methodflow.cancel(resumed.pipeline_run_id)
        assert (await methodflow.wait(resumed.pipeline_run_id, within=30, interval=0.1)).state == "CANCELLED"

        # A bulk resume under one idempotency key is one job, however often it is asked.
        mine = {"pipe_code": "slow", "created_after": began}  # not other tests' runs on this server
        job = await methodflow.bulk_resume(mine, idempotency_key=f"bulk-{run_id}")
        again = await methodflow.bulk_resume(mine, idempotency_key=f"bulk-{run_id}")
        assert (again.job_id, again.matched) == (job.job_id, job.matched)
        assert job.matched == 2  # the original (already resumed: skipped) and its cancelled resume
        other = await methodflow.bulk_resume(mine)  # a key of its own: another job
        assert other.job_id != job.job_id
        assert (await methodflow.resume_job(job.job_id)).job_id == job.job_id


async def test_the_method_tooling(temporal_address: str, tmp_path: Path) -> None:
    async with (
        run_stack(
            temporal_address, tmp_path, worker=False, api_overrides={"builder_model": "absent"}
        ) as stack,
        AsyncMethodflowClient(stack.base_url) as methodflow,
    ):
        version = await methodflow.version()
        assert version.implementation == "methodflow"
        assert version.capabilities["run_lifecycle"] is True
        valid = await methodflow.validate(mthds_contents=[HELLO])
        assert valid.is_valid
        assert valid.errors == []
        invalid = await methodflow.validate(files={"hello.mthds": HELLO.replace('"greet"', '"absent"')})
        assert not invalid.is_valid
        assert invalid.errors[0]["code"] == "method.pipe_unresolved"
        contracts = await methodflow.pipe_io(mthds_contents=[HELLO], pipe_ref="hello.welcome")
        assert contracts.model_extra is not None
        assert (
            contracts.model_extra["pipe_io_contracts"]["hello.welcome"]["output"]["concept_ref"]
            == "hello.Welcome"
        )
        template = await methodflow.build_inputs(mthds_contents=[HELLO], format="json")
        assert template.model_extra is not None
        assert template.model_extra["inputs"] == {"name": "text_value"}
        formatted = await methodflow.format('domain="hello"\n')
        assert (formatted.formatted, formatted.changed) == ('domain = "hello"\n', True)
        lint = await methodflow.lint(HELLO)
        assert [d for d in lint.diagnostics if d["severity"] == "error"] == []
        deck = await methodflow.models("llm")
        assert deck.models
        assert {model["type"] for model in deck.models} == {"llm"}
        with pytest.raises(OperatorProblem) as unsupported:
            await methodflow.build_pipeline("Greet a guest by name.")
        assert (unsupported.value.status, unsupported.value.code) == (501, "runtime.unsupported")

        schema = await methodflow.build_output(mthds_contents=[HELLO])
        assert (schema.is_valid, schema.pipe_ref, schema.format) == (True, "hello.welcome", "schema")
        assert schema.output is not None
        source = await methodflow.build_output(
            mthds_contents=[HELLO], pipe_ref="hello.welcome", format="python"
        )
        assert source.output_python is not None
        assert "class " in source.output_python
        runner = await methodflow.build_runner(mthds_contents=[HELLO], client="httpx")
        assert (runner.is_valid, runner.client) == (True, "httpx")
        assert runner.python_code is not None
        compile(runner.python_code, "runner.py", "exec")  # a script that parses
        resolved = await methodflow.resolve(mthds_contents=[HELLO])
        assert resolved.crate is not None
        assert "hello.welcome" in resolved.crate["pipes"]
        code = await methodflow.codegen("python-pydantic", mthds_contents=[HELLO])
        assert code.is_valid
        assert code.crate_fingerprint == resolved.crate["fingerprint"]
        assert code.artifacts
        assert code.lock
        broken = {"hello.mthds": HELLO.replace('"greet"', '"absent"')}
        for invalid_arm in (
            await methodflow.resolve(files=broken),
            await methodflow.codegen("ts-zod", files=broken),
            await methodflow.build_output(files=broken),
            await methodflow.build_runner(files=broken),
        ):
            assert not invalid_arm.is_valid
            assert invalid_arm.errors[0]["code"] == "method.pipe_unresolved"

        alias = next(iter(deck.aliases["llm"]))
        check = await methodflow.models_check(f"@{alias}", "llm")
        assert (check.kind, check.name, check.resolution) == ("alias", alias, "resolved")
        assert check.matches
        unknown = await methodflow.models_check("no-such-model-anywhere")
        assert unknown.resolution == "not_found"
        assert (await methodflow.ping()).status == "ok"
        assert (await methodflow.ready()).status == "ready"


async def test_typed_errors(temporal_address: str, tmp_path: Path) -> None:
    async with (
        run_stack(temporal_address, tmp_path) as stack,
        AsyncMethodflowClient(stack.base_url) as methodflow,
    ):
        with pytest.raises(InputProblem) as unknown:
            await methodflow.status("no-such-run")
        assert (unknown.value.status, unknown.value.code, unknown.value.domain) == (
            404,
            "run.not_found",
            "input",
        )
        assert unknown.value.request_id
        for read in (
            methodflow.run("no-such-run"),
            methodflow.results("no-such-run"),
            methodflow.result_items_page("no-such-run"),
            methodflow.cancel("no-such-run"),
            methodflow.deliveries("no-such-run"),
        ):
            with pytest.raises(InputProblem) as not_found:
                await read
            assert (not_found.value.status, not_found.value.code) == (404, "run.not_found")

        run_id = f"client-{uuid.uuid4()}"
        await methodflow.start(mthds_contents=[HELLO], inputs={"name": "Ada"}, idempotency_key=run_id)
        with pytest.raises(InputProblem) as conflict:
            await methodflow.start(mthds_contents=[HELLO], inputs={"name": "Bob"}, idempotency_key=run_id)
        assert (conflict.value.status, conflict.value.code) == (409, "request.idempotency_conflict")

        with pytest.raises(InputProblem) as missing:
            await methodflow.start(mthds_contents=[HELLO], inputs={})
        assert (missing.value.status, missing.value.code) == (422, "input.missing")
        assert missing.value.params["input"] == "name"

        with pytest.raises(MethodProblem) as invalid:
            await methodflow.execute(mthds_contents=["domain = 3"], inputs={})
        assert (invalid.value.status, invalid.value.code) == (422, "method.invalid")
        assert invalid.value.problem["errors"]

        await methodflow.wait(run_id, within=30, interval=0.05)
        for refused, field in (
            (methodflow.results(run_id, artifacts=["no_such_artifact"]), "artifacts"),
            (methodflow.result_items_page(run_id, limit=1001), "limit"),
            (methodflow.result_items_page(run_id), "pipeline_run_id"),  # a single output, not a list
            (methodflow.codegen("cobol", mthds_contents=[HELLO]), "target"),
            (methodflow.models_check("$"), "reference"),
        ):
            with pytest.raises(InputProblem) as bad_request:
                await refused
            assert (bad_request.value.status, bad_request.value.code) == (422, "request.invalid")
            assert bad_request.value.params["field"] == field


async def test_temporal_down_is_a_typed_503(tmp_path: Path) -> None:
    # A service whose Temporal nobody listens for: one attempt each (Retry-After 5 s is past the deadline).
    policy = RetryPolicy(deadline=1)
    async with (
        run_stack(f"127.0.0.1:{free_port()}", tmp_path, worker=False) as stack,
        AsyncMethodflowClient(stack.base_url, retry=policy) as methodflow,
    ):
        calls: list[Callable[[], Awaitable[object]]] = [
            lambda: methodflow.start(mthds_contents=[HELLO], inputs={"name": "Ada"}),
            lambda: methodflow.status("some-run"),
            methodflow.ready,
        ]
        for call in calls:  # each coroutine made only when awaited: a failed check leaves none behind
            with pytest.raises(RuntimeProblem) as down:
                await call()
            assert (down.value.status, down.value.code, down.value.retry) == (
                503,
                "runtime.unavailable",
                "yes",
            )
            # Once the gateway knows Temporal is down, it also says since when (`unreachable_since`).
            assert down.value.params["component"] == "temporal"
            assert set(down.value.params) <= {"component", "unreachable_since"}
            assert not isinstance(down.value, ServiceUnavailable)  # the service answered; Temporal did not


async def test_api_keys_from_arguments_or_the_environment(
    temporal_address: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = {"auth_mode": "api_key", "api_key": "right-key"}
    async with run_stack(temporal_address, tmp_path, worker=False, api_overrides=keys) as stack:
        monkeypatch.setenv("METHODFLOW_URL", stack.base_url)
        monkeypatch.setenv("METHODFLOW_API_KEY", "right-key")
        async with AsyncMethodflowClient() as from_environment:
            assert (await from_environment.validate(mthds_contents=[HELLO])).is_valid
        async with AsyncMethodflowClient(api_key="wrong-key") as wrong:
            assert (await wrong.version()).protocol_version  # public: no credential read
            with pytest.raises(AccountProblem) as refused:
                await wrong.validate(mthds_contents=[HELLO])
        assert (refused.value.status, refused.value.code) == (401, "auth.invalid_credential")
        monkeypatch.delenv("METHODFLOW_API_KEY")
        async with AsyncMethodflowClient() as without:
            with pytest.raises(AccountProblem) as missing:
                await without.models()
        assert missing.value.code == "auth.missing_credential"


RUNS = 250
PAGE = 7  # 35 full pages and a last one of 5


async def test_runs_follows_the_pages_over_250_runs(temporal_address: str, tmp_path: Path) -> None:
    # A tenant of its own, so that no other test's runs enter the listing.
    tenant_key = {"auth_mode": "api_key", "api_key": f"client-pages-{uuid.uuid4().hex[:8]}:pages-key"}
    async with (
        run_stack(temporal_address, tmp_path, api_overrides=tenant_key) as stack,
        AsyncMethodflowClient(stack.base_url, "pages-key") as methodflow,
    ):
        starting = asyncio.Semaphore(16)

        async def start(number: int) -> str:
            async with starting:
                run = await methodflow.start(mthds_contents=[HELLO], inputs={"name": f"guest {number}"})
            return run.pipeline_run_id

        started = await asyncio.gather(*(start(number) for number in range(RUNS)))
        assert len(set(started)) == RUNS
        # Listed once every run has ended, so that no state changes while the pages are read; the
        # listing reads Temporal's visibility store, updated a moment after each change.
        for _ in range(150):
            if len([run async for run in methodflow.runs(state="COMPLETED", page_size=100)]) == RUNS:
                break
            await asyncio.sleep(0.2)
        listed = [run.pipeline_run_id async for run in methodflow.runs(page_size=PAGE)]
        assert len(listed) == len(set(listed)), "a run listed twice"
        assert set(listed) == set(started)

        pages: list[int] = []
        cursor: str | None = None
        while True:
            page = await methodflow.runs_page(cursor, limit=PAGE)
            pages.append(len(page.items))
            if page.next_cursor is None:
                break
            assert page.next_cursor != cursor
            cursor = page.next_cursor
        assert pages == [PAGE] * (RUNS // PAGE) + [RUNS % PAGE]


# Retries, against loopback servers of our own ---------------------------------------------------------------


@contextmanager
def scripted_server(
    answers: list[int], *, always: int | None = None, ok_body: dict[str, str] | None = None
) -> Generator[tuple[str, list[str]]]:
    """An HTTP server on a loopback port answering each request with the next status of `answers`
    (errors as problems with `Retry-After: 0`), then `always` or 200 with `ok_body`
    (by default a version body); yields its URL and the paths it was asked for."""
    seen: list[str] = []
    script = list(answers)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            status = script.pop(0) if script else (always or 200)
            if status == 200:
                body = ok_body or {"protocol_version": "2.0.0", "implementation": "scripted"}
            else:
                code, domain = (
                    ("run.not_found", "input") if status == 404 else ("runtime.unavailable", "runtime")
                )
                body = {
                    "status": status,
                    "code": code,
                    "domain": domain,
                    "retry": "no",
                    "detail": "Scripted.",
                }
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header(
                "Content-Type", "application/json" if status == 200 else "application/problem+json"
            )
            if status != 200:
                self.send_header("Retry-After", "0")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_503_twice_then_200_succeeds_on_the_third_attempt() -> None:
    with scripted_server([503, 503]) as (url, seen), MethodflowClient(url, deadline=10) as methodflow:
        assert methodflow.version().implementation == "scripted"
    assert seen == ["/v1/version"] * 3


def test_429_502_and_504_are_retried_too_but_a_404_is_not() -> None:
    with scripted_server([429, 502, 504]) as (url, seen), MethodflowClient(url, deadline=10) as methodflow:
        assert methodflow.version().implementation == "scripted"
    assert len(seen) == 4
    with scripted_server([404]) as (url, seen), MethodflowClient(url, deadline=10) as methodflow:
        with pytest.raises(InputProblem) as not_found:
            methodflow.version()
        assert (not_found.value.status, not_found.value.code) == (404, "run.not_found")
    assert len(seen) == 1


async def test_a_service_always_503_raises_its_problem_once_the_deadline_passed() -> None:
    policy = RetryPolicy(deadline=0.6, initial_delay=0.05, max_delay=0.1)
    with scripted_server([], always=503) as (url, seen):
        async with AsyncMethodflowClient(url, retry=policy) as methodflow:
            with pytest.raises(RuntimeProblem) as unavailable:
                await methodflow.version()
    assert (unavailable.value.status, unavailable.value.code) == (503, "runtime.unavailable")
    assert len(seen) > 2  # retried (Retry-After: 0) until the deadline, then given up


def test_a_closed_port_is_service_unavailable() -> None:
    policy = RetryPolicy(deadline=0.5, initial_delay=0.05, max_delay=0.1)
    with (
        MethodflowClient(f"http://127.0.0.1:{free_port()}", retry=policy) as methodflow,
        pytest.raises(ServiceUnavailable) as unreachable,
    ):
        methodflow.version()
    assert unreachable.value.status is None
    assert "could not be reached" in unreachable.value.detail


def test_wait_reads_the_status_when_the_event_stream_is_not_served() -> None:
    final = {"pipeline_run_id": "run-1", "state": "COMPLETED"}
    with scripted_server([404], ok_body=final) as (url, seen), MethodflowClient(url) as methodflow:
        assert methodflow.wait("run-1", within=5).state == "COMPLETED"
    assert seen == ["/v1/runs/run-1/events", "/v1/runs/run-1/status"]


async def test_wait_gives_up_at_its_deadline_and_an_unknown_run_is_not_found(
    temporal_address: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLOW_SECONDS", "30")
    async with (
        run_stack(
            temporal_address, tmp_path, worker_overrides={"pipe_activity_heartbeat_seconds": 2}
        ) as stack,
        AsyncMethodflowClient(stack.base_url) as methodflow,
    ):
        started = await methodflow.start(mthds_contents=[FUNCS], pipe_code="slow", inputs={"name": "x"})
        with pytest.raises(WaitTimeout) as late:
            await methodflow.wait(started.pipeline_run_id, within=1, interval=0.1)
        assert late.value.pipeline_run_id == started.pipeline_run_id
        await methodflow.cancel(started.pipeline_run_id)
        with pytest.raises(InputProblem) as unknown:
            await methodflow.wait("no-such-run", within=5)
        assert unknown.value.code == "run.not_found"


async def test_an_execute_outlasting_the_service_s_wait_comes_back_running(
    temporal_address: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLOW_SECONDS", "2")
    async with (
        run_stack(temporal_address, tmp_path, api_overrides={"execute_wait_seconds": 0.2}) as stack,
        AsyncMethodflowClient(stack.base_url) as methodflow,
    ):
        running = await methodflow.execute(mthds_contents=[FUNCS], pipe_code="slow", inputs={"name": "x"})
        assert running.state in {"STARTED", "RUNNING"}  # the protocol's 202 degrade
        assert running.main_stuff is None
        assert (await methodflow.wait(running.pipeline_run_id, within=30, interval=0.1)).state == "COMPLETED"
        results = await methodflow.results(running.pipeline_run_id)
        assert results is not None
        assert results.main_stuff == {"text": "x+"}
