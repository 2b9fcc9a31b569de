"""The typed payloads of large batches: the batch workflow, its chunk workflows and their activities
(docs/design/large-batches.md). Pure pydantic models, carried by the pydantic data converter.

Nothing here holds a batch's items: they live in the blob store in pages, and payloads name them by URI,
so every payload stays small whatever the number of items.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from shared.runs.payload_additions import without_unused
from shared.runs.workflow_io import ActivityPolicy, MemoScope
from shared.runtime.batch_failures import BatchFailureMode
from shared.runtime.batch_plan import BatchCounters, SlidingWindow
from shared.runtime.usage import UsageRecord


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RunScope(_Payload):
    """What every workflow of a run shares: whose run it is, where its files live, its method and options."""

    run_id: str
    storage_prefix: str
    method_digest: str
    # The run workflow's id: child workflow ids start with it, so they are scoped by tenant as the run is.
    run_workflow_id: str
    batch_failures: BatchFailureMode = BatchFailureMode.FAIL
    dynamic_output_concept: str
    concurrency: int
    policy: ActivityPolicy
    # Which memo entries the run's invocations may reuse and whether they write theirs; None: no memo.
    memo: MemoScope | None = None
    # A run with a budget: its ledger workflow's id (`shared/runs/budget_io.py`), carried to every
    # operator task of the run and of its chunks; None (left out of the payload) for runs without one.
    budget: str | None = None

    @model_serializer(mode="wrap")
    def _without_unused_additions(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return without_unused(self, handler(self), ("budget",))


class BatchWork(_Payload):
    """One batch that left the workflow it was met in: its pipes, where its items are, how to cut them."""

    scope: RunScope
    # This batch's workflow id; chunk ids are `<id>/chunk/<n>`.
    workflow_id: str
    batch_path: str  # the invocation path of the batching pipe (item paths extend it)
    batch_pipe_ref: str  # the PipeBatch, or the sequence of a `batch_over` step
    branch_pipe_ref: str
    item_name: str
    item_concept: str
    output_concept: str
    items_uri: str  # the manifest of the input items (`shared/storage/item_pages.py`)
    total: int
    context_uri: str  # the working memory around the batch (`shared/runtime/memory_codec.py`)
    out_prefix: str  # storage key prefix of the outputs, the chunk results and the seal
    chunk_items: int
    window: int
    chunks_per_history: int


class BatchCarry(_Payload):
    """What a batch workflow carries across continue-as-new: its window and counters, never items."""

    window: SlidingWindow
    counters: BatchCounters
    histories: int = 1


class BatchInput(_Payload):
    work: BatchWork
    carry: BatchCarry | None = None


class ChunkInput(_Payload):
    work: BatchWork
    index: int
    start: int
    count: int


class ItemFailed(_Payload):
    """The failure that ended a chunk under `batch_failures: "fail"`: enough to rebuild `PipeRunError`."""

    code: str
    message: str
    pipe: str | None = None
    retryable: bool = False
    params: dict[str, Any] = Field(default_factory=dict[str, Any])


class ChunkEnd(_Payload):
    """How a chunk ended: its item counts, or the item failure that stopped it (fail mode)."""

    index: int
    done: int
    failed: int
    failure: ItemFailed | None = None


class BatchEnd(_Payload):
    """How a batch ended: sealed (outputs, failures and usages stored, small ones inline) or failed."""

    total: int
    done: int
    failed: int
    failure: ItemFailed | None = None
    # The outputs, in input order: inline when small, else the manifest of their pages.
    items: list[Any] | None = None
    items_uri: str | None = None
    count: int = 0
    failure_records: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]])
    failure_records_uri: str | None = None
    usages: list[UsageRecord] = Field(default_factory=list[UsageRecord])
    usages_uri: str | None = None
    cost_usd: float | None = None
    tokens: dict[str, int] = Field(default_factory=dict[str, int])
    model_calls: int = 0
    concept: str | None = None
    # Cancelled (its run was cancelled or timed out): the counts are those of the chunks that ended.
    cancelled: bool = False
    # Invocations its chunks answered from the memo, and their original cost (in none of the above).
    reused_invocations: int = 0
    reused_cost_usd: float | None = None

    @model_serializer(mode="wrap")
    def _without_unused_additions(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return without_unused(self, handler(self), ("cancelled", "reused_invocations", "reused_cost_usd"))


class TallyChunksTask(_Payload):
    """Read back the usage that the started chunks of a failed or cancelled batch kept."""

    out_prefix: str
    chunks: int  # the chunks started (0 .. chunks-1), across every history of the batch
    inline_max_bytes: int


class ChunksTally(_Payload):
    """The usage and reused counts of a batch's chunks that kept them: records inline when small."""

    usages: list[UsageRecord] = Field(default_factory=list[UsageRecord])
    usages_uri: str | None = None
    cost_usd: float | None = None
    tokens: dict[str, int] = Field(default_factory=dict[str, int])
    model_calls: int = 0
    reused_invocations: int = 0
    reused_cost_usd: float | None = None


class MergeListsTask(_Payload):
    """Write one JSON list (a run's usage records, its failed items) from inline items and stored lists."""

    key: str
    inline: list[Any]
    uris: list[str]


class BatchProgress(_Payload):
    """What the batch workflow's progress query answers: exact item counters (items across all chunks)."""

    batch_path: str
    total: int
    done: int
    failed: int
    in_flight: int
    histories: int


# Activities ------------------------------------------------------------------------------------------


class StoreBatchTask(_Payload):
    """Write a batch's input: its items in pages (unless already stored) and the memory around it."""

    out_prefix: str
    items: list[Any] | None = None  # items held inline by the workflow, else `items_uri` names them
    items_uri: str | None = None
    context: dict[str, Any]
    page_items: int


class StoredBatch(_Payload):
    items_uri: str
    total: int
    context_uri: str


class ChunkContextTask(_Payload):
    method_digest: str
    context_uri: str


class ChunkContext(_Payload):
    """A chunk's start: its method's bundles (the workflow loads its library from them) and memory."""

    bundles: list[dict[str, str]]
    context: dict[str, Any]


class LoadItemsTask(_Payload):
    items_uri: str
    start: int
    count: int
    max_bytes: int


class LoadedItems(_Payload):
    items: list[Any]


class ChunkMemoNote(_Payload):
    """What the last part of a chunk whose every item completed needs to write the chunk's memo entry
    (`shared/runs/chunk_memo_keys.py`): where its items and memory are, and what its invocations were."""

    work: BatchWork
    start: int
    count: int
    invocations: int  # operator invocations made or reused by the chunk
    cost_usd: float | None = None  # what they cost, made or (originally) reused


class ChunkOutputTask(_Payload):
    """A part of a chunk's outputs; the last part also writes the chunk's result file."""

    out_prefix: str
    index: int
    part: int
    outputs: list[Any]
    last: bool
    part_counts: list[int] = Field(default_factory=list[int])  # the last part: every part's item count
    done: int = 0
    failed: int = 0
    failure_records: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]])
    usages: list[UsageRecord] = Field(default_factory=list[UsageRecord])
    # Those of nested batches too large to ride inline: the seal reads and merges them.
    failure_records_uris: list[str] = Field(default_factory=list[str])
    usages_uris: list[str] = Field(default_factory=list[str])
    concept: str | None = None  # the first output's concept (a Dynamic batch takes it)
    # Invocations the chunk (and its nested batches) answered from the memo, and their original cost.
    reused_invocations: int = 0
    reused_cost_usd: float | None = None
    # Set on the last part of a chunk whose every item completed in a run that keeps a memo.
    memo: ChunkMemoNote | None = None

    @model_serializer(mode="wrap")
    def _without_unused_additions(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return without_unused(self, handler(self), ("reused_invocations", "reused_cost_usd", "memo"))


class SealBatchTask(_Payload):
    out_prefix: str
    chunks: int
    total: int
    inline_max_bytes: int
    done: int
    failed: int
