"""`MethodflowClient`: the service's routes as blocking methods on an `httpx.Client`, with typed answers,
typed errors and bounded retries. Its requests are `client.calls`' (the async client sends the same).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import httpx

from client import calls, tool_calls
from client.config import auth_headers, base_url
from client.models import (
    CancelRequested,
    Deliveries,
    Formatted,
    LintReport,
    ModelDeck,
    ResultItems,
    ResumeJob,
    ResumeJobAccepted,
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
from client.retrying import Attempts, RetryPolicy
from client.tool_models import (
    GeneratedCode,
    Health,
    ModelCheck,
    OutputTemplate,
    Readiness,
    ResolvedCrate,
    RunnerCode,
)
from client.waiting import RunWait

T = TypeVar("T")


class MethodflowClient:
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
        self._http = httpx.Client(base_url=base_url(url), headers=auth_headers(api_key), timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MethodflowClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def _send(self, call: calls.Call[T]) -> T:
        attempts = Attempts(self.retry, retried=call.retried, service=str(self._http.base_url))
        while True:
            try:
                response = self._http.send(call.request(self._http))
            except httpx.TransportError as exc:
                pause = attempts.pause_after_failure(exc)
            else:
                pause = attempts.pause_after(response)
                if pause is None:
                    return call.answer(response)
            time.sleep(pause)

    # Runs -----------------------------------------------------------------------------------------------

    def execute(
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
        return self._send(
            calls.run_request(
                calls.EXECUTE_PATH, mthds_contents, files, inputs, pipe_code, idempotency_key, extra
            )
        )

    def start(
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
        return self._send(
            calls.run_request(
                calls.START_PATH, mthds_contents, files, inputs, pipe_code, idempotency_key, extra
            )
        )

    def wait(self, run_id: str, *, within: float = 600.0, interval: float = 0.5) -> RunStatus:
        """Wait for the run's end and return its final status; raise `WaitTimeout` after `within` seconds.

        Follows the run's event stream until `run.finished`; when the stream is not served, breaks or
        ends early, reads the status every `interval` seconds instead. A stream silent near the deadline
        may hold the wait until its next keep-alive (every 15 s) before `WaitTimeout` is raised.
        """
        waiting = RunWait(run_id, within, interval)
        self._follow_events(waiting)
        while True:
            current = self.status(run_id)
            if waiting.ended(current):
                return current
            time.sleep(interval)

    def _follow_events(self, waiting: RunWait) -> None:
        path, timeout = calls.events_path(waiting.run_id), waiting.stream_timeout(self._http.timeout)
        try:
            with self._http.stream("GET", path, timeout=timeout) as response:
                if response.status_code != 200:
                    return  # polling `/status` gives the typed answer (404 for an unknown run)
                for line in response.iter_lines():
                    if waiting.heard(line):
                        return
        except httpx.TransportError:
            return  # a silent or broken stream: polling takes over

    def status(self, run_id: str) -> RunStatus:
        return self._send(calls.status(run_id))

    def progress(self, run_id: str) -> RunProgress:
        return self._send(calls.progress(run_id))

    def run(self, run_id: str) -> RunRecord:
        """The whole run record: method, inputs, deliveries' states and, once ended, its `usage`."""
        return self._send(calls.run_record(run_id))

    def results(self, run_id: str, *, artifacts: Sequence[str] | None = None) -> RunResults | None:
        """The results of a completed run; None while it runs; a failed run raises `run.failed`.

        `artifacts` narrows the answer to those members (`main_stuff`, `working_memory`, `graph_spec`,
        `pipe_io_contracts`, `input_form`, `output_form`, `tokens_usages`, `batch_failures`).
        """
        return self._send(calls.results(run_id, artifacts))

    def result_items_page(
        self, run_id: str, *, offset: int = 0, limit: int = 100, name: str | None = None
    ) -> ResultItems | None:
        """One page of a completed run's list output (the main one, or the output `name`); None while
        the run goes on; a single (non-list) output is a 422 `request.invalid`."""
        return self._send(calls.result_items(run_id, offset, limit, name))

    def result_items(self, run_id: str, *, name: str | None = None, page_size: int = 100) -> Iterator[Any]:
        """Every item of a completed run's list output, read `page_size` at a time (at most 1000), so a
        100,000-item output never comes whole. Raises `RunStillRunning` before the run has ended."""
        offset: int | None = 0
        while offset is not None:
            page = calls.ended_items(
                self.result_items_page(run_id, offset=offset, limit=page_size, name=name), run_id
            )
            yield from page.items
            offset = page.next_offset

    def resume(
        self,
        run_id: str,
        *,
        mthds_contents: Sequence[str] | None = None,
        files: Mapping[str, Any] | None = None,
        inputs: Mapping[str, Any] | None = None,
        pipeline_run_id: str | None = None,
        **extra: Any,
    ) -> RunStarted:
        """Resume a failed, cancelled or timed-out run as a new run (`/v1/runs/{id}/resume`): every
        completed invocation whose pipe and inputs are unchanged is reused, the rest runs. Without a
        corrected method or `inputs` the original's stand; `extra` takes `callback_urls`, `budget` and
        `reuse`. The new run's id is `pipeline_run_id`, else a new UUID (so a retried attempt is safe)."""
        return self._send(calls.resume(run_id, mthds_contents, files, inputs, pipeline_run_id, extra))

    def bulk_resume(
        self,
        resume_filter: Mapping[str, Any],
        *,
        mthds_contents: Sequence[str] | None = None,
        files: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        **extra: Any,
    ) -> ResumeJobAccepted:
        """Resume every failed or cancelled run of the caller that `resume_filter` matches (`states`,
        `pipe_code`, `created_after`, `created_before`) in one paced job (`/v1/runs/resume`), with one
        corrected method for all if given; `extra` takes `callback_urls`, `budget` and `reuse`. Each run
        keeps its own inputs. Read the job's progress with `resume_job`. The same `idempotency_key`
        answers the same job (one is made when none is given, so a retried attempt starts no second)."""
        return self._send(calls.bulk_resume(resume_filter, mthds_contents, files, idempotency_key, extra))

    def resume_job(self, job_id: str) -> ResumeJob:
        return self._send(calls.resume_job(job_id))

    def cancel(self, run_id: str, reason: str | None = None) -> CancelRequested:
        return self._send(calls.cancel(run_id, reason))

    def deliveries(self, run_id: str) -> Deliveries:
        return self._send(calls.deliveries(run_id))

    def runs_page(
        self,
        cursor: str | None = None,
        *,
        state: str | Sequence[str] | None = None,
        pipe_code: str | None = None,
        limit: int = 20,
    ) -> RunPage:
        return self._send(calls.runs_page(cursor, state, pipe_code, limit))

    def runs(
        self, *, state: str | Sequence[str] | None = None, pipe_code: str | None = None, page_size: int = 20
    ) -> Iterator[RunSummary]:
        """Every run of the caller, newest first, reading one page at a time."""
        cursor: str | None = None
        while True:
            page = self.runs_page(cursor, state=state, pipe_code=pipe_code, limit=page_size)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    # Methods and tooling -------------------------------------------------------------------------------

    def validate(
        self,
        *,
        mthds_contents: Sequence[str] | None = None,
        files: Mapping[str, Any] | None = None,
        **extra: Any,
    ) -> ValidationVerdict:
        return self._send(tool_calls.validate(mthds_contents, files, extra))

    def pipe_io(
        self,
        *,
        mthds_contents: Sequence[str] | None = None,
        files: Mapping[str, Any] | None = None,
        pipe_ref: str | None = None,
        **extra: Any,
    ) -> ValidationVerdict:
        return self._send(tool_calls.pipe_io(mthds_contents, files, pipe_ref, extra))

    def build_pipeline(self, brief: str, **extra: Any) -> ValidationVerdict:
        """Turn a brief into a bundle that validates (`domain`, `model`, `max_repairs` in `extra`)."""
        return self._send(tool_calls.build_pipeline(brief, extra))

    def build_inputs(
        self,
        *,
        mthds_contents: Sequence[str] | None = None,
        files: Mapping[str, Any] | None = None,
        pipe_ref: str | None = None,
        **extra: Any,
    ) -> ValidationVerdict:
        """An inputs template of the pipe (`format` `json`|`toml`, `explicit` in `extra`)."""
        return self._send(tool_calls.build_inputs(mthds_contents, files, pipe_ref, extra))

    def build_output(
        self,
        *,
        mthds_contents: Sequence[str] | None = None,
        files: Mapping[str, Any] | None = None,
        pipe_ref: str | None = None,
        **extra: Any,
    ) -> OutputTemplate:
        """The pipe's output as a JSON Schema, an example or pydantic source (`format` in `extra`:
        `schema`, `json` or `python`)."""
        return self._send(tool_calls.build_output(mthds_contents, files, pipe_ref, extra))

    def build_runner(
        self,
        *,
        mthds_contents: Sequence[str] | None = None,
        files: Mapping[str, Any] | None = None,
        pipe_ref: str | None = None,
        **extra: Any,
    ) -> RunnerCode:
        """A Python script running the pipe on the service (`client`: `mthds`, `pipelex-sdk` or `httpx`,
        and `base_url`, in `extra`)."""
        return self._send(tool_calls.build_runner(mthds_contents, files, pipe_ref, extra))

    def resolve(
        self,
        *,
        mthds_contents: Sequence[str] | None = None,
        files: Mapping[str, Any] | None = None,
        **extra: Any,
    ) -> ResolvedCrate:
        """The method's library resolved into a crate: every reference qualified, with its fingerprint."""
        return self._send(tool_calls.resolve(mthds_contents, files, extra))

    def codegen(
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
        return self._send(tool_calls.codegen(target, mthds_contents, files, kind, extra))

    def format(self, content: str, *, source: str | None = None) -> Formatted:
        return self._send(tool_calls.format_content(content, source))

    def lint(self, content: str, *, source: str | None = None) -> LintReport:
        return self._send(tool_calls.lint(content, source))

    def models(self, model_type: str | None = None) -> ModelDeck:
        """The model deck, all of it or one `type` (`llm`, `extract`, `img_gen`, `search`, `judgment`)."""
        return self._send(tool_calls.models(model_type))

    def models_check(self, reference: str, model_type: str | None = None) -> ModelCheck:
        """How a bundle's model reference (`$preset`, `@alias`, `~waterfall`, a handle) resolves."""
        return self._send(tool_calls.model_check(reference, model_type))

    def ping(self) -> Health:
        """`/health`, in one attempt: the service serves HTTP."""
        return self._send(calls.health())

    def ready(self) -> Readiness:
        """`/ready`, in one attempt: a 503 `runtime.unavailable` (a `RuntimeProblem`) when Temporal is down."""
        return self._send(calls.readiness())

    def version(self) -> Version:
        return self._send(calls.version())
