"""The service's answers as typed models (http-api.md §3, §5 to §10). Each keeps the members it does not
declare (`extra="allow"`), so a newer service never breaks an older client.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

TERMINAL_STATES = frozenset({"COMPLETED", "FAILED", "CANCELLED"})


class _Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


class RunStarted(_Answer):
    """`/v1/start` (202 or 200) and `/v1/execute` (200, or 202 when the run outlasts the wait)."""

    pipeline_run_id: str
    state: str
    created_at: str | None = None
    finished_at: str | None = None
    main_stuff_name: str | None = None
    pipe_output: dict[str, Any] | None = None

    @property
    def main_stuff(self) -> Any:
        """The main output's content on a completed `/execute`, else None."""
        if not self.pipe_output or not self.main_stuff_name:
            return None
        root = self.pipe_output.get("working_memory", {}).get("root", {})
        return root.get(self.main_stuff_name, {}).get("content")


class RunStatus(_Answer):
    """`/v1/runs/{id}/status`: the state, the run's problem when it failed, and counters."""

    pipeline_run_id: str
    state: str
    pipe_code: str | None = None
    created_at: str | None = None
    finished_at: str | None = None
    error: dict[str, Any] | None = None
    progress: dict[str, Any] | None = None

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_STATES


class RunProgress(_Answer):
    """`/v1/runs/{id}/progress`: one entry per pipe invocation."""

    pipeline_run_id: str
    status: str
    version: int
    invocations: list[dict[str, Any]]


class RunUsage(_Answer):
    """What an ended run's model calls cost (methodflow's `usage` of `/v1/runs/{id}`)."""

    model_calls: int
    cost_usd: float | None = None
    nb_tokens_by_category: dict[str, int] = {}


class RunRecord(_Answer):
    """`/v1/runs/{id}`: the whole run record, its method and inputs as submitted, its deliveries' states
    and, once it has ended, its `usage`. `files` (a `files` source) stays among the extra members."""

    pipeline_run_id: str
    workflow_id: str
    state: str
    status: str
    pipe_code: str | None = None
    main_stuff_name: str | None = None
    created_at: str | None = None
    finished_at: str | None = None
    created_by_user_id: str | None = None
    request_id: str | None = None
    result_url: str | None = None
    error: dict[str, Any] | None = None
    mthds_contents: list[str] = []
    inputs: dict[str, Any] = {}
    callback_urls: list[str] = []
    deliveries: list[dict[str, Any]] = []
    usage: RunUsage | None = None

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_STATES


class RunResults(_Answer):
    """`/v1/runs/{id}/results` of a completed run; `main_stuff` is the main output's content.

    Narrowed by `artifacts`, the members not asked for are absent from the answer and None here.
    """

    pipeline_run_id: str
    main_stuff: Any = None
    working_memory: dict[str, Any] | None = None
    graph_spec: dict[str, Any] | None = None
    pipe_io_contracts: dict[str, Any] | None = None
    input_form: dict[str, Any] | None = None
    output_form: dict[str, Any] | None = None
    tokens_usages: list[dict[str, Any]] | None = None


class ResultItems(_Answer):
    """A page of a run's list output (`/v1/runs/{id}/results/items`); `next_offset` None on the last."""

    pipeline_run_id: str
    name: str
    concept: str | None = None
    total: int
    offset: int
    limit: int
    items: list[Any]
    next_offset: int | None = None


class RunSummary(_Answer):
    """One run of a `/v1/runs` page."""

    pipeline_run_id: str
    state: str
    pipe_code: str | None = None
    created_at: str | None = None
    finished_at: str | None = None
    error: dict[str, Any] | None = None


class RunPage(_Answer):
    """One page of `/v1/runs`, newest first; `next_cursor` is None on the last page."""

    items: list[RunSummary]
    next_cursor: str | None = None


class CancelRequested(_Answer):
    """`/v1/runs/{id}/cancel` (202)."""

    pipeline_run_id: str
    state: str
    cancel_requested: bool


class ResumeJobAccepted(_Answer):
    """`POST /v1/runs/resume` (202): the bulk resume job, DONE at once when nothing matched."""

    job_id: str
    state: str
    matched: int


class ResumeJobRun(_Answer):
    """One run a bulk resume job has reached: `resumed` (with its new run's id), `skipped` or `failed`."""

    run_id: str
    outcome: str
    resumed_run_id: str | None = None
    problem: dict[str, Any] | None = None


class ResumeJob(_Answer):
    """`GET /v1/runs/resume/{job_id}`: a bulk resume job's progress."""

    job_id: str
    state: str
    matched: int
    resumed: int
    skipped: int
    failed: int
    runs: list[ResumeJobRun]
    created_at: str
    finished_at: str | None = None


class ValidationVerdict(_Answer):
    """`/v1/validate`, and the diagnostic arm of the tooling and build routes: always a verdict."""

    is_valid: bool
    errors: list[dict[str, Any]] = []
    message: str | None = None


class Deliveries(_Answer):
    """`/v1/runs/{id}/deliveries`: one item per callback URL, with its attempts."""

    pipeline_run_id: str
    items: list[dict[str, Any]]


class Version(_Answer):
    """`/v1/version`: the protocol handshake."""

    protocol_version: str
    implementation: str | None = None
    implementation_version: str | None = None
    capabilities: dict[str, Any] = {}


class ModelDeck(_Answer):
    """`/v1/models`: the service's model deck."""

    models: list[dict[str, Any]]
    aliases: dict[str, Any] = {}
    waterfalls: dict[str, Any] = {}


class LintReport(_Answer):
    """`/v1/lint`: the findings on one bundle."""

    diagnostics: list[dict[str, Any]]


class Formatted(_Answer):
    """`/v1/format`: the bundle laid out as the reference lays it out."""

    formatted: str
    changed: bool
    diagnostics: list[dict[str, Any]] = []
