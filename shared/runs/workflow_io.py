"""The typed payloads of the run workflow and its activities (one input object each, as in the Temporal
samples). Pure pydantic models, carried by the pydantic data converter.

Payloads stay small: the method travels as its bundle texts once (workflow input; a `files` tree is
stored and named by digest), activities name it by digest, and large outputs are stored and referenced
(`output_ref`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from shared.runs.payload_additions import without_unused
from shared.runs.run_states import RunState
from shared.runs.task_routes import TaskRouting
from shared.runtime.batch_failures import BatchFailureMode
from shared.runtime.usage import UsageRecord

# The most progress events one query answer carries (about 400 KB): readers page through longer logs.
PROGRESS_PAGE_EVENTS = 1000
# Temporal refuses a payload over 2 MB (and would fail the workflow task, not the pipe): a step whose
# inputs or output would exceed this fails typed instead, `pipe.payload_too_large`.
STEP_PAYLOAD_MAX_BYTES = 1_900_000


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BundleText(_Payload):
    path: str
    text: str


class CallbackPolicy(_Payload):
    """How callback deliveries are timed and retried (http-api.md §10.4); the worker's settings."""

    attempt_timeout_seconds: float = 15
    initial_interval_seconds: float = 1
    backoff_coefficient: float = 2
    max_interval_seconds: float = 600
    retry_window_seconds: float = 24 * 3600
    output_max_bytes: int = 256 * 1024


class ActivityPolicy(_Payload):
    """How pipe activities are retried and timed; read from the worker's settings once per run."""

    start_to_close_seconds: float = 600
    heartbeat_seconds: float = 30
    max_attempts: int = 5
    initial_interval_seconds: float = 1
    max_interval_seconds: float = 60
    output_inline_max_bytes: int = 256 * 1024
    # Temporal terminates a workflow at 51,200 history events; a run fails typed well before that.
    history_event_budget: int = 40_000
    callbacks: CallbackPolicy = Field(default_factory=CallbackPolicy)
    # Large batches (docs/design/large-batches.md): a batch leaves the workflow it is met in when its
    # branch needs activities or it has more items than `batch_inline_max_items`; it then runs in chunks
    # of `batch_chunk_items` items, `batch_window_chunks` at once, continuing as new every
    # `batch_chunks_per_history` chunks. Policies recorded before these existed decode with the defaults.
    batch_inline_max_items: int = 1000
    # An operator's output over this many bytes is stored and moves through workflows by reference.
    content_inline_max_bytes: int = 256 * 1024
    batch_chunk_items: int = 200
    batch_window_chunks: int = 2
    batch_chunks_per_history: int = 500
    # Items of one chunk in flight at once (chunks that predate it ran the walk's 8: `chunk_workflow.py`
    # asks a patch before it reads this).
    batch_chunk_concurrency: int = 32
    # Which task queue each operator's activities go to (worker pools, rate-limited models).
    routing: TaskRouting = Field(default_factory=TaskRouting)
    # The memo (MEMO_ENABLED, MEMO_RETENTION_DAYS): see `MemoScope`.
    memo_enabled: bool = True
    memo_retention_days: float = 30

    @model_serializer(mode="wrap")
    def _without_unused_additions(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return without_unused(
            self,
            handler(self),
            ("batch_chunk_concurrency", "routing", "memo_enabled", "memo_retention_days"),
        )


class RunBudget(_Payload):
    """The most a run may spend (the request's `budget`): USD over the deck's prices, and/or tokens."""

    max_cost_usd: float | None = None
    max_tokens: int | None = None


class RunSpec(_Payload):
    """The workflow input: one accepted, validated run request (http-api.md §4, after checks 1 to 7)."""

    run_id: str
    identity: str
    storage_prefix: str
    request_id: str
    created_at: str
    request_digest: str
    method_digest: str
    bundles: list[BundleText]
    pipe_ref: str
    pipe_code: str
    inputs: dict[str, Any] = Field(default_factory=dict[str, Any])
    output_name: str | None = None
    output_multiplicity: bool | int | str | None = None
    dynamic_output_concept_ref: str | None = None
    callback_urls: list[str] = Field(default_factory=list[str])
    # Where `result_url` points (PUBLIC_BASE_URL, else the origin of the request that created the run).
    public_base_url: str = ""
    run_timeout_seconds: float = 21600
    # A method sent as `files`: the tree is stored by content (`methods/trees/<digest>.json`) and only
    # its digest rides here, beside the bundles. Runs started before that carry the tree inline in
    # `files`; both stay decodable, and the run record reads whichever is set.
    files_digest: str | None = None
    files: dict[str, Any] | None = None
    extra: dict[str, Any] = Field(default_factory=dict[str, Any])
    # The request option `batch_failures`; runs started before it existed decode as "fail".
    batch_failures: BatchFailureMode = BatchFailureMode.FAIL
    # A resumed run (`POST /v1/runs/{id}/resume`): the run it resumes, and every run whose memo entries
    # it may reuse, nearest first (that run, then the one it resumed, ...).
    resumed_from: str | None = None
    reuse_runs: list[str] = Field(default_factory=list[str])
    # `"reuse": "tenant"`: reuse any completed invocation of the same tenant's runs.
    reuse_tenant: bool = False
    # The request's `budget`, enforced before each model call (`RunBudget`).
    budget: RunBudget | None = None


class StuffPayload(_Payload):
    name: str
    code: str
    concept: str
    content: Any
    is_list: bool = False


class BindingAsk(_Payload):
    """A binding step of the task's pipe that walks into its one input, whose content is stored: the
    activity reads it back and walks `root.segments` (`binding_values.bind_content`)."""

    root: str
    segments: list[str]
    concept: str | None = None
    to_list: bool = False


class MemoScope(_Payload):
    """Which memo entries a run's invocations may reuse, and whether they write their own
    (`shared/storage/memo_store.py`). Runs started before resume existed carry none: no memo at all."""

    # The runs this one resumes, nearest first (its `resumed_from`, then that run's, ...).
    reuse_runs: list[str] = Field(default_factory=list[str])
    # `"reuse": "tenant"`: any run of the same tenant (never another tenant's: entries live under its prefix).
    reuse_tenant: bool = False
    # Entries older than this are never reused (MEMO_RETENTION_DAYS).
    retention_days: float = 30
    # Whether completed invocations are written, so the run can itself be resumed (MEMO_ENABLED).
    write: bool = True


class OperatorTask(_Payload):
    """One operator pipe to run in an activity; the worker finds the method by `method_digest`."""

    run_id: str
    storage_prefix: str
    method_digest: str
    pipe_ref: str
    inputs: dict[str, StuffPayload]
    output_concept: str
    output_is_list: bool = False
    output_count: int | None = None
    seed: str
    nb_output: int | None = None
    binding: BindingAsk | None = None
    memo: MemoScope | None = None
    # A run with a budget: its ledger workflow's id, where each model call reserves its worst case
    # first (`worker/operators/call_budget.py`); None for runs without one.
    budget: str | None = None

    @model_serializer(mode="wrap")
    def _without_unused_additions(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return without_unused(self, handler(self), ("binding", "memo", "budget"))


class OperatorAnswer(_Payload):
    content: Any
    concept: str | None = None
    usages: list[UsageRecord] = Field(default_factory=list[UsageRecord])
    # A binding's answer: whether it made a list, or the part of its path that held nothing.
    is_list: bool = False
    empty: str | None = None
    # The run whose memo entry answered this invocation (its `usages` are then that run's calls, not
    # made again); None when the invocation ran.
    reused_from: str | None = None

    @model_serializer(mode="wrap")
    def _without_unused_additions(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return without_unused(self, handler(self), ("is_list", "empty", "reused_from"))


class StoreOutputTask(_Payload):
    """One part of a large JSON document of a run's end (its working memory, its progress log), stored
    as `name` under the run; the last part's activity joins them all."""

    storage_prefix: str
    run_id: str
    part: int
    parts: int
    text: str
    name: str = "working_memory.json"


class RunEnd(_Payload):
    """The workflow result: how the run ended. A failed or cancelled run also completes its workflow."""

    state: RunState
    finished_at: str
    main_stuff_name: str | None = None
    working_memory: dict[str, Any] | None = None
    output_ref: str | None = None
    error: dict[str, Any] | None = None
    error_status: int | None = None
    # The final progress log: inline when small, else stored (`progress.json`) and referenced, so that
    # reading an ended run's progress needs neither a worker nor a replay.
    progress: ProgressView | None = None
    progress_ref: str | None = None
    # The usage records of every model call the run made (failed and cancelled runs included): inline
    # when small, else stored (`tokens_usages.json`); `cost_usd` and `tokens` are always inline.
    tokens_usages: list[UsageRecord] = Field(default_factory=list[UsageRecord])
    tokens_usages_ref: str | None = None
    cost_usd: float | None = None
    tokens: dict[str, int] = Field(default_factory=dict[str, int])
    model_calls: int = 0
    # Under `batch_failures: "collect"`, the failed batch items (`ItemFailure.record`): inline when
    # small, else stored (`batch_failures.json`); both None when the run did not collect.
    batch_failures: list[dict[str, Any]] | None = None
    batch_failures_ref: str | None = None
    # Invocations answered from the memo (a resumed run, or `"reuse": "tenant"`), and what their
    # original calls cost: not spent again, and counted in none of the figures above.
    reused_invocations: int = 0
    reused_cost_usd: float | None = None


class CancelAnswer(_Payload):
    """The run workflow's answer to a cancel request (http-api.md §9.7).

    `accepted`: the run will end CANCELLED. Refused once the run has marked its end (it may still be
    storing its results, but its state is settled): `state` is then the state it ended in.
    """

    accepted: bool
    state: RunState


class ProgressEvent(_Payload):
    """One entry of a run's progress log; `seq` is its 1-based position (the SSE id, §9.8)."""

    seq: int
    at: str
    event: str
    data: dict[str, Any]


class ProgressCounters(_Payload):
    pipes_total: int = 0
    pipes_done: int = 0
    current_pipe: str | None = None
    batch: dict[str, Any] | None = None
    # The model calls settled so far and their cost (null while no priced call): a batch running as
    # batch workflows adds its chunks' calls as each chunk ends.
    model_calls: int = 0
    cost_usd: float | None = None
    # Invocations answered from the memo so far (counted in none of the above); left out while 0.
    reused_invocations: int = 0

    @model_serializer(mode="wrap")
    def _without_unused_additions(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return without_unused(self, handler(self), ("reused_invocations",))


class ProgressView(_Payload):
    """What the progress query answers: the state, the counters and the log after a given seq."""

    state: RunState
    version: int
    counters: ProgressCounters
    events: list[ProgressEvent]


class CallbackDelivery(_Payload):
    """The delivery workflow's input: one fixed event body for every URL (§10.2)."""

    run_id: str
    storage_prefix: str
    body: str
    urls: list[str]
    policy: CallbackPolicy
    # A redelivery's attempts go on numbering after those already logged for its URL.
    first_attempt: int = 1
    # The run's workflow id, which the events' webhook-ids derive from (unique across tenants); empty
    # in inputs written before run ids were scoped by tenant, whose ids derive from the run id.
    run_workflow_id: str = ""

    @property
    def webhook_key(self) -> str:
        return self.run_workflow_id or self.run_id


class CallbackTask(_Payload):
    """One URL's delivery, retried by Temporal until it is delivered, gone, refused or out of time."""

    run_id: str
    storage_prefix: str
    url: str
    body: str
    policy: CallbackPolicy
    first_attempt: int = 1  # the number logged for Temporal's attempt 1
    run_workflow_id: str = ""  # as in `CallbackDelivery`

    @property
    def webhook_key(self) -> str:
        return self.run_workflow_id or self.run_id


class DeliveryOutcome(_Payload):
    url: str
    state: str  # delivered | gone | refused | failed | cancelled
