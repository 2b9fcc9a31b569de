"""`AsyncMethodflowClient`: the service's routes as coroutines on an `httpx.AsyncClient`, the twin of
`MethodflowClient` (same requests from `client.calls`, same answers, errors and retries).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import httpx

from client import calls
from client.config import auth_headers, base_url
from client.errors import RunStillRunning, ServiceUnavailable, WaitTimeout
from client.events import RunEndWatcher, read_timeout
from client.models import (
    CancelRequested,
    Deliveries,
    Formatted,
    LintReport,
    ModelDeck,
    ResultItems,
    RunPage,
    RunProgress,
    RunRecord,
    RunResults,
    RunStarted,
    RunStatus,
    RunSummary,
    ValidationVerdict,
    Version,
)
from client.retrying import RetryPolicy, pause_before_retry
from client.tool_models import (
    GeneratedCode,
    Health,
    ModelCheck,
    OutputTemplate,
    Readiness,
    ResolvedCrate,
    RunnerCode,
)

T = TypeVar("T")


class AsyncMethodflowClient:
    """A client of one methodflow service. `url` and `api_key` default to `METHODFLOW_URL` and
    `METHODFLOW_API_KEY`; `deadline` bounds the retries of one call (seconds from its first attempt);
    `timeout` is each attempt's HTTP timeout (`execute` and `build_pipeline` wait longer)."""

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        deadline: float = 60.0,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy(deadline=deadline)
        self._http = httpx.AsyncClient(base_url=base_url(url), headers=auth_headers(api_key), timeout=timeout)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncMethodflowClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _send(self, call: calls.Call[T]) -> T:
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            response: httpx.Response | None = None
            try:
                response = await self._http.request(
                    call.method,
                    call.path,
                    json=call.json,
                    params=call.params,
                    headers=call.headers,
                    timeout=call.timeout if call.timeout is not None else httpx.USE_CLIENT_DEFAULT,
                )
            except httpx.TransportError as exc:
                pause = self._pause(call, attempt, started, None)
                if pause is None:
                    msg = f"the service at {self._http.base_url} could not be reached after {attempt} attempts: {exc}"
                    raise ServiceUnavailable(msg, domain="runtime") from exc
            else:
                pause = self._pause(call, attempt, started, response)
                if pause is None:
                    return call.answer(response)
            await asyncio.sleep(pause)

    def _pause(
        self, call: calls.Call[Any], attempt: int, started: float, response: httpx.Response | None
    ) -> float | None:
        if not call.retried:
            return None
        return pause_before_retry(self.retry, attempt, time.monotonic() - started, response)

    # Runs -----------------------------------------------------------------------------------------------

    async def execute(
        self,
        *,
        mthds_contents: Sequence[str] | None = None,
        files: Mapping[str, Any] | None = None,
        inputs: Mapping[str, Any] | None = None,
        pipe_code: str | None = None,
        idempotency_key: str | None = None,
        **extra: Any,
    ) -> RunStarted:
        """Run a pipe and wait for its end (`/v1/execute`); a run outlasting the service's wait comes back
        still running (state `STARTED`/`RUNNING`: `wait` for it). A run that failed raises its problem."""
        body = calls.method_source(mthds_contents, files, {"inputs": inputs, "pipe_code": pipe_code, **extra})
        return await self._send(calls.run_request("/v1/execute", body, idempotency_key))

    async def start(
        self,
        *,
        mthds_contents: Sequence[str] | None = None,
        files: Mapping[str, Any] | None = None,
        inputs: Mapping[str, Any] | None = None,
        pipe_code: str | None = None,
        idempotency_key: str | None = None,
        **extra: Any,
    ) -> RunStarted:
        """Start a run and answer at once (`/v1/start`); the same `idempotency_key` never starts two."""
        body = calls.method_source(mthds_contents, files, {"inputs": inputs, "pipe_code": pipe_code, **extra})
        return await self._send(calls.run_request("/v1/start", body, idempotency_key))

    async def wait(self, run_id: str, *, within: float = 600.0, interval: float = 0.5) -> RunStatus:
        """Wait for the run's end and return its final status; raise `WaitTimeout` after `within` seconds.

        Follows the run's event stream until `run.finished`; when the stream is not served, breaks or
        ends early, reads the status every `interval` seconds instead. A stream silent near the deadline
        may hold the wait until its next keep-alive (every 15 s) before `WaitTimeout` is raised.
        """
        deadline = time.monotonic() + within
        await self._follow_events(run_id, deadline)
        while True:
            current = await self.status(run_id)
            if current.is_terminal:
                return current
            if time.monotonic() + interval > deadline:
                msg = f"the run {run_id} had not ended after {within} s (state {current.state})"
                raise WaitTimeout(msg, problem={"pipeline_run_id": run_id})
            await asyncio.sleep(interval)

    async def _follow_events(self, run_id: str, deadline: float) -> None:
        watcher = RunEndWatcher()
        timeout = httpx.Timeout(self._http.timeout.connect, read=read_timeout(deadline - time.monotonic()))
        try:
            async with self._http.stream("GET", calls.events_path(run_id), timeout=timeout) as response:
                if response.status_code != 200:
                    return  # polling `/status` gives the typed answer (404 for an unknown run)
                async for line in response.aiter_lines():
                    watcher.feed(line)
                    if watcher.ended or time.monotonic() > deadline:
                        return
        except httpx.TransportError:
            return  # a silent or broken stream: polling takes over

    async def status(self, run_id: str) -> RunStatus:
        return await self._send(calls.status(run_id))

    async def progress(self, run_id: str) -> RunProgress:
        return await self._send(calls.progress(run_id))

    async def run(self, run_id: str) -> RunRecord:
        """The whole run record: method, inputs, deliveries' states and, once ended, its `usage`."""
        return await self._send(calls.run_record(run_id))

    async def results(self, run_id: str, *, artifacts: Sequence[str] | None = None) -> RunResults | None:
        """The results of a completed run; None while it runs; a failed run raises `run.failed`.

        `artifacts` narrows the answer to those members (`main_stuff`, `working_memory`, `graph_spec`,
        `pipe_io_contracts`, `input_form`, `output_form`, `tokens_usages`, `batch_failures`).
        """
        return await self._send(calls.results(run_id, artifacts))

    async def result_items_page(
        self, run_id: str, *, offset: int = 0, limit: int = 100, name: str | None = None
    ) -> ResultItems | None:
        """One page of a completed run's list output (the main one, or the output `name`); None while
        the run goes on; a single (non-list) output is a 422 `request.invalid`."""
        return await self._send(calls.result_items(run_id, offset, limit, name))

    async def result_items(
        self, run_id: str, *, name: str | None = None, page_size: int = 100
    ) -> AsyncIterator[Any]:
        """Every item of a completed run's list output, read `page_size` at a time (at most 1000), so a
        100,000-item output never comes whole. Raises `RunStillRunning` before the run has ended."""
        offset = 0
        while True:
            page = await self.result_items_page(run_id, offset=offset, limit=page_size, name=name)
            if page is None:
                msg = f"the run {run_id} has not ended yet: wait for it before reading its items"
                raise RunStillRunning(msg, status=202, problem={"pipeline_run_id": run_id})
            for item in page.items:
                yield item
            if page.next_offset is None:
                return
            offset = page.next_offset

    async def cancel(self, run_id: str, reason: str | None = None) -> CancelRequested:
        return await self._send(calls.cancel(run_id, reason))

    async def deliveries(self, run_id: str) -> Deliveries:
        return await self._send(calls.deliveries(run_id))

    async def runs_page(
        self,
        cursor: str | None = None,
        *,
        state: str | Sequence[str] | None = None,
        pipe_code: str | None = None,
        limit: int = 20,
    ) -> RunPage:
        return await self._send(calls.runs_page(cursor, state, pipe_code, limit))

    async def runs(
        self, *, state: str | Sequence[str] | None = None, pipe_code: str | None = None, page_size: int = 20
    ) -> AsyncIterator[RunSummary]:
        """Every run of the caller, newest first, reading one page at a time."""
        cursor: str | None = None
        while True:
            page = await self.runs_page(cursor, state=state, pipe_code=pipe_code, limit=page_size)
            for item in page.items:
                yield item
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    # Methods and tooling -------------------------------------------------------------------------------

    async def validate(
        self,
        *,
        mthds_contents: Sequence[str] | None = None,
        files: Mapping[str, Any] | None = None,
        **extra: Any,
    ) -> ValidationVerdict:
        return await self._send(
            calls.verdict("/v1/validate", calls.method_source(mthds_contents, files, extra))
        )

    async def pipe_io(
        self,
        *,
        mthds_contents: Sequence[str] | None = None,
        files: Mapping[str, Any] | None = None,
        pipe_ref: str | None = None,
        **extra: Any,
    ) -> ValidationVerdict:
        body = calls.method_source(mthds_contents, files, {"pipe_ref": pipe_ref, **extra})
        return await self._send(calls.verdict("/v1/pipe-io", body))

    async def build_pipeline(self, brief: str, **extra: Any) -> ValidationVerdict:
        """Turn a brief into a bundle that validates (`domain`, `model`, `max_repairs` in `extra`)."""
        body = {"brief": brief, **extra}
        return await self._send(calls.verdict("/v1/build/pipeline", body, timeout=calls.BUILD_TIMEOUT))

    async def build_inputs(
        self,
        *,
        mthds_contents: Sequence[str] | None = None,
        files: Mapping[str, Any] | None = None,
        pipe_ref: str | None = None,
        **extra: Any,
    ) -> ValidationVerdict:
        """An inputs template of the pipe (`format` `json`|`toml`, `explicit` in `extra`)."""
        body = calls.method_source(mthds_contents, files, {"pipe_ref": pipe_ref, **extra})
        return await self._send(calls.verdict("/v1/build/inputs", body))

    async def build_output(
        self,
        *,
        mthds_contents: Sequence[str] | None = None,
        files: Mapping[str, Any] | None = None,
        pipe_ref: str | None = None,
        **extra: Any,
    ) -> OutputTemplate:
        """The pipe's output as a JSON Schema, an example or pydantic source (`format` in `extra`:
        `schema`, `json` or `python`)."""
        body = calls.method_source(mthds_contents, files, {"pipe_ref": pipe_ref, **extra})
        return await self._send(calls.model_call("POST", "/v1/build/output", OutputTemplate, body))

    async def build_runner(
        self,
        *,
        mthds_contents: Sequence[str] | None = None,
        files: Mapping[str, Any] | None = None,
        pipe_ref: str | None = None,
        **extra: Any,
    ) -> RunnerCode:
        """A Python script running the pipe on the service (`client`: `mthds`, `pipelex-sdk` or `httpx`,
        and `base_url`, in `extra`)."""
        body = calls.method_source(mthds_contents, files, {"pipe_ref": pipe_ref, **extra})
        return await self._send(calls.model_call("POST", "/v1/build/runner", RunnerCode, body))

    async def resolve(
        self,
        *,
        mthds_contents: Sequence[str] | None = None,
        files: Mapping[str, Any] | None = None,
        **extra: Any,
    ) -> ResolvedCrate:
        """The method's library resolved into a crate: every reference qualified, with its fingerprint."""
        body = calls.method_source(mthds_contents, files, extra)
        return await self._send(calls.model_call("POST", "/v1/resolve", ResolvedCrate, body))

    async def codegen(
        self,
        target: str,
        *,
        mthds_contents: Sequence[str] | None = None,
        files: Mapping[str, Any] | None = None,
        kind: str = "types",
        **extra: Any,
    ) -> GeneratedCode:
        """The types of the method's concepts in `target` (`python-pydantic`, `python-structures`,
        `ts-zod`), with their lock."""
        body = calls.method_source(mthds_contents, files, {"kind": kind, "target": target, **extra})
        return await self._send(calls.model_call("POST", "/v1/codegen", GeneratedCode, body))

    async def format(self, content: str, *, source: str | None = None) -> Formatted:
        body = {"content": content, **({"source": source} if source else {})}
        return await self._send(calls.model_call("POST", "/v1/format", Formatted, body))

    async def lint(self, content: str, *, source: str | None = None) -> LintReport:
        body = {"content": content, **({"source": source} if source else {})}
        return await self._send(calls.model_call("POST", "/v1/lint", LintReport, body))

    async def models(self, model_type: str | None = None) -> ModelDeck:
        """The model deck, all of it or one `type` (`llm`, `extract`, `img_gen`, `search`, `judgment`)."""
        params = {"type": model_type} if model_type else None
        return await self._send(calls.model_call("GET", "/v1/models", ModelDeck, params=params))

    async def models_check(self, reference: str, model_type: str | None = None) -> ModelCheck:
        """How a bundle's model reference (`$preset`, `@alias`, `~waterfall`, a handle) resolves."""
        return await self._send(calls.model_check(reference, model_type))

    async def ping(self) -> Health:
        """`/health`, in one attempt: the service serves HTTP."""
        return await self._send(calls.health())

    async def ready(self) -> Readiness:
        """`/ready`, in one attempt: a 503 `runtime.unavailable` (a `RuntimeProblem`) when Temporal is down."""
        return await self._send(calls.readiness())

    async def version(self) -> Version:
        return await self._send(calls.version())
