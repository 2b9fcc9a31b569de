"""The activities of large batches: where their items, memories and outputs meet the blob store.

Workflows never hold a large batch's items: these activities write them in pages, hand a chunk its
slice, store each chunk's outputs and seal the batch's output as one list in input order
(docs/design/large-batches.md). Every write goes to a key fixed by its task, so a retried activity
writes the same file again and never a second one.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any, cast

from temporalio import activity

from shared.language.validator import LibraryUnusable
from shared.runs.batch_io import (
    BatchEnd,
    ChunkContext,
    ChunkContextTask,
    ChunkOutputTask,
    ChunksTally,
    LoadedItems,
    LoadItemsTask,
    MergeListsTask,
    SealBatchTask,
    StoreBatchTask,
    StoredBatch,
    TallyChunksTask,
)
from shared.runs.names import (
    CHUNK_CONTEXT_ACTIVITY,
    LOAD_ITEMS_ACTIVITY,
    MERGE_LISTS_ACTIVITY,
    SEAL_BATCH_ACTIVITY,
    STORE_BATCH_ACTIVITY,
    STORE_CHUNK_OUTPUT_ACTIVITY,
    TALLY_CHUNKS_ACTIVITY,
)
from shared.runtime.usage import UsageRecord, tokens_total, total_cost
from shared.storage.blob_store import STORAGE_SCHEME, BlobNotFoundError, BlobStore
from shared.storage.item_pages import (
    PageEntry,
    cut_pages,
    encode,
    iter_items,
    read_manifest,
    read_range,
    write_manifest,
    write_pages,
)
from shared.storage.run_storage import get_json, get_method, put_json
from worker.chunk_memo import ChunkMemo
from worker.metrics import record_batch_items

_INLINE_PAGES_MAX = 64


@dataclass(slots=True)
class _Sealed:
    """What a seal gathers from the chunks' results, in chunk order."""

    pages: list[PageEntry] = field(default_factory=list[PageEntry])
    failures: list[Any] = field(default_factory=list[Any])
    usages: list[UsageRecord] = field(default_factory=list[UsageRecord])
    reused_invocations: int = 0
    reused_cost_usd: float | None = None
    concept: str | None = None


def chunk_key(out_prefix: str, index: int) -> str:
    return f"{out_prefix}/chunks/{index:06d}"


class BatchActivities:
    """The batch activities of one worker process, over its blob store."""

    def __init__(self, store: BlobStore, chunk_memo: ChunkMemo | None = None) -> None:
        self.store = store
        # Writes a chunk's memo entry when its last part says the chunk completed whole (None: never).
        self.chunk_memo = chunk_memo

    @activity.defn(name=STORE_BATCH_ACTIVITY)
    async def store_batch(self, task: StoreBatchTask) -> StoredBatch:
        return await asyncio.to_thread(self._store_batch, task)

    def _store_batch(self, task: StoreBatchTask) -> StoredBatch:
        context_uri = put_json(self.store, f"{task.out_prefix}/context.json", task.context)
        if task.items_uri is not None:
            return StoredBatch(
                items_uri=task.items_uri,
                total=read_manifest(self.store, task.items_uri).count,
                context_uri=context_uri,
            )
        items = task.items or []
        pages = write_pages(self.store, f"{task.out_prefix}/in", cut_pages(items, task.page_items))
        items_uri = write_manifest(self.store, f"{task.out_prefix}/in.json", pages)
        return StoredBatch(items_uri=items_uri, total=len(items), context_uri=context_uri)

    @activity.defn(name=CHUNK_CONTEXT_ACTIVITY)
    async def chunk_context(self, task: ChunkContextTask) -> ChunkContext:
        return await asyncio.to_thread(self._chunk_context, task)

    def _chunk_context(self, task: ChunkContextTask) -> ChunkContext:
        bundles = [
            {"path": bundle.path, "text": bundle.text}
            for bundle in get_method(self.store, task.method_digest)
        ]
        context = cast("dict[str, Any]", get_json(self.store, task.context_uri))
        return ChunkContext(bundles=bundles, context=context)

    @activity.defn(name=LOAD_ITEMS_ACTIVITY)
    async def load_items(self, task: LoadItemsTask) -> LoadedItems:
        """Items from `start`, at most `count` and about `max_bytes` (at least one): the caller asks
        again from where this answer ends, so no answer nears Temporal's payload limit."""
        return await asyncio.to_thread(self._load_items, task)

    def _load_items(self, task: LoadItemsTask) -> LoadedItems:
        manifest = read_manifest(self.store, task.items_uri)
        items = read_range(self.store, manifest, task.start, task.count)
        kept: list[Any] = []
        size = 0
        for item in items:
            item_size = len(encode(item))
            if kept and size + item_size > task.max_bytes:
                break
            kept.append(item)
            size += item_size
        return LoadedItems(items=kept)

    @activity.defn(name=STORE_CHUNK_OUTPUT_ACTIVITY)
    async def store_chunk_output(self, task: ChunkOutputTask) -> None:
        await asyncio.to_thread(self._store_chunk_output, task)

    def _store_chunk_output(self, task: ChunkOutputTask) -> None:
        key = chunk_key(task.out_prefix, task.index)
        write_pages(self.store, key, [task.outputs], first_page=task.part)
        if not task.last:
            return
        # The chunk's result names its parts; the seal reads only results, so a part is never half-seen.
        parts = [
            {"uri": f"{STORAGE_SCHEME}{key}/{part:06d}.json", "count": count}
            for part, count in enumerate(task.part_counts)
        ]
        result = {
            "done": task.done,
            "failed": task.failed,
            "parts": parts,
            "failure_records": task.failure_records,
            "failure_records_uris": task.failure_records_uris,
            "usages": [usage.model_dump(mode="json") for usage in task.usages],
            "usages_uris": task.usages_uris,
            "concept": task.concept,
            "reused_invocations": task.reused_invocations,
            "reused_cost_usd": task.reused_cost_usd,
        }
        put_json(self.store, f"{key}.json", result)
        record_batch_items(task.done, task.failed)
        if task.memo is not None and self.chunk_memo is not None:
            # After the result: an entry never names a result that is not there. A method gone from the
            # store only costs the entry (a resume then walks the chunk); a store that is down retries.
            with contextlib.suppress(BlobNotFoundError, LibraryUnusable):
                self.chunk_memo.remember(task.memo, f"{STORAGE_SCHEME}{key}.json")

    @activity.defn(name=SEAL_BATCH_ACTIVITY)
    async def seal_batch(self, task: SealBatchTask) -> BatchEnd:
        """The batch's output in input order: the manifest of every chunk's parts, its failed items and
        usage records merged; each inline when small, else stored."""
        sealed = _Sealed()
        for index in range(task.chunks):
            await asyncio.to_thread(self._read_chunk, task.out_prefix, index, sealed)
            activity.heartbeat(index)  # throttled by the SDK: a dead worker is noticed within seconds
        return await asyncio.to_thread(self._seal_batch, task, sealed)

    @activity.defn(name=TALLY_CHUNKS_ACTIVITY)
    async def tally_chunks(self, task: TallyChunksTask) -> ChunksTally:
        """The usage and reused counts of a failed or cancelled batch's chunks: those that ended, and
        those that failed or were cancelled and kept theirs (chunks of older workers kept none)."""
        sealed = _Sealed()
        for index in range(task.chunks):
            # A chunk that kept nothing (cancelled before it started its items, or of an older worker)
            # has no result: it adds nothing.
            with contextlib.suppress(BlobNotFoundError):
                await asyncio.to_thread(self._read_chunk, task.out_prefix, index, sealed)
            activity.heartbeat(index)
        return await asyncio.to_thread(self._tally, task, sealed)

    def _tally(self, task: TallyChunksTask, sealed: _Sealed) -> ChunksTally:
        usages = sealed.usages
        tally: dict[str, Any] = {
            "cost_usd": total_cost(usages),
            "tokens": tokens_total(usages),
            "model_calls": len(usages),
            "reused_invocations": sealed.reused_invocations,
            "reused_cost_usd": sealed.reused_cost_usd,
        }
        records = [usage.model_dump(mode="json") for usage in usages]
        tally.update(self._inline_or_stored(task.out_prefix, task.inline_max_bytes, "usages", records))
        return ChunksTally.model_validate(tally)

    def _read_chunk(self, out_prefix: str, index: int, sealed: _Sealed) -> None:
        result = cast(
            "dict[str, Any]",
            get_json(self.store, f"{STORAGE_SCHEME}{chunk_key(out_prefix, index)}.json"),
        )
        sealed.pages.extend(PageEntry(str(part["uri"]), int(part["count"])) for part in result["parts"])
        sealed.failures.extend(result["failure_records"])
        for uri in result["failure_records_uris"]:
            sealed.failures.extend(cast("list[Any]", get_json(self.store, uri)))
        sealed.usages.extend(UsageRecord.model_validate(usage) for usage in result["usages"])
        for uri in result["usages_uris"]:
            sealed.usages.extend(UsageRecord.model_validate(usage) for usage in get_json(self.store, uri))
        sealed.concept = sealed.concept or result.get("concept")
        # Chunk results written before resume existed hold no reused counts.
        sealed.reused_invocations += int(result.get("reused_invocations") or 0)
        reused_cost = result.get("reused_cost_usd")
        if reused_cost is not None:
            sealed.reused_cost_usd = round((sealed.reused_cost_usd or 0) + float(reused_cost), 10)

    def _seal_batch(self, task: SealBatchTask, sealed: _Sealed) -> BatchEnd:
        pages, failures, usages, concept = sealed.pages, sealed.failures, sealed.usages, sealed.concept
        items_uri = write_manifest(self.store, f"{task.out_prefix}/out.json", pages)
        count = sum(page.count for page in pages)
        end: dict[str, Any] = {
            "total": task.total,
            "done": task.done,
            "failed": task.failed,
            "count": count,
            "items_uri": items_uri,
            "concept": concept,
            "cost_usd": total_cost(usages),
            "tokens": tokens_total(usages),
            "model_calls": len(usages),
            "reused_invocations": sealed.reused_invocations,
            "reused_cost_usd": sealed.reused_cost_usd,
        }
        # A small output rides inline, so the walk goes on with an ordinary list (few pages: a long list
        # is never read here just to learn that it is too large).
        if len(pages) <= _INLINE_PAGES_MAX:
            items = list(iter_items(self.store, read_manifest(self.store, items_uri)))
            if len(encode(items)) <= task.inline_max_bytes:
                end["items"] = items
        end.update(
            self._inline_or_stored(task.out_prefix, task.inline_max_bytes, "failure_records", failures)
        )
        records = [usage.model_dump(mode="json") for usage in usages]
        end.update(self._inline_or_stored(task.out_prefix, task.inline_max_bytes, "usages", records))
        return BatchEnd.model_validate(end)

    def _inline_or_stored(
        self, out_prefix: str, inline_max_bytes: int, name: str, values: list[Any]
    ) -> dict[str, Any]:
        if not values:
            return {}
        if len(encode(values)) <= inline_max_bytes:
            return {name: values}
        return {f"{name}_uri": put_json(self.store, f"{out_prefix}/{name}.json", values)}

    @activity.defn(name=MERGE_LISTS_ACTIVITY)
    async def merge_lists(self, task: MergeListsTask) -> str:
        merged = list(task.inline)
        for number, uri in enumerate(task.uris):
            merged.extend(cast("list[Any]", await asyncio.to_thread(get_json, self.store, uri)))
            activity.heartbeat(number)
        return await asyncio.to_thread(put_json, self.store, task.key, merged)
