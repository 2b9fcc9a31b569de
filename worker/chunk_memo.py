"""Chunk memo entries: a whole batch chunk remembered, and answered, in one entry (issue 19, Speed).

Written by the last storage step of a chunk whose every item completed (`store_chunk_output` with a
`ChunkMemoNote`): the entry names the chunk's result file, which names its output parts. Read by the
chunk reuse activity before it walks the chunk item by item: a hit copies the parts' outputs, so a
resumed chunk costs a few reads instead of a walk of the interpreter per item. The key
(`shared/runs/chunk_memo_keys.py`) holds the whole method, so any change falls back to the walk.
Blocking: callers run it on a worker thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from shared.language.library import Library
from shared.language.pipe_blueprints import PipeFunc
from shared.runs.batch_io import BatchWork, ChunkMemoNote
from shared.runs.chunk_memo_keys import chunk_memo_key
from shared.runs.memo_keys import function_digest
from shared.storage.blob_store import BlobNotFoundError, BlobStore
from shared.storage.item_pages import read_manifest, read_page, read_range
from shared.storage.memo_store import ChunkMemoEntry, find_chunk_entry, put_entry
from shared.storage.run_storage import get_json
from worker.memo_steps import MemoSteps
from worker.method_cache import MethodCache


@dataclass(frozen=True, slots=True)
class RememberedChunk:
    """A chunk's outputs as an earlier run stored them, and what its invocations cost that run."""

    contents: list[Any]
    concept: str | None
    invocations: int
    cost_usd: float | None


class ChunkMemo:
    def __init__(self, methods: MethodCache, memo: MemoSteps, store: BlobStore) -> None:
        self.methods = methods
        self.memo = memo
        self.store = store

    def key(self, work: BatchWork, library: Library, items: list[Any], context: Mapping[str, Any]) -> str:
        functions = {
            entry.blueprint.function_name: function_digest(
                entry.blueprint.function_name, self.memo.functions.get(entry.blueprint.function_name)
            )
            for entry in library.pipes.values()
            if isinstance(entry.blueprint, PipeFunc)
        }
        batch = {
            "batch_pipe": work.batch_pipe_ref,
            "branch_pipe": work.branch_pipe_ref,
            "item_name": work.item_name,
            "item_concept": work.item_concept,
            "output_concept": work.output_concept,
            "dynamic_output_concept": work.scope.dynamic_output_concept,
        }
        return chunk_memo_key(
            method_digest=work.scope.method_digest,
            function_digests=functions,
            batch=batch,
            items=items,
            context=context,
        )

    def remember(self, note: ChunkMemoNote, result_uri: str) -> None:
        """Write the entry of a chunk this run completed whole."""
        work = note.work
        if work.scope.memo is None or not work.scope.memo.write:
            return
        library = self.methods.library(work.scope.method_digest)
        context = cast("dict[str, Any]", get_json(self.store, work.context_uri))
        items = read_range(self.store, read_manifest(self.store, work.items_uri), note.start, note.count)
        entry = ChunkMemoEntry(
            run_id=work.scope.run_id,
            created_at=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            result_uri=result_uri,
            invocations=note.invocations,
            cost_usd=note.cost_usd,
        )
        put_entry(self.store, work.scope.storage_prefix, self.key(work, library, items, context), entry)

    def recall(
        self, work: BatchWork, library: Library, items: list[Any], context: Mapping[str, Any]
    ) -> RememberedChunk | None:
        """The outputs of an earlier run's identical chunk the run may reuse; None when there is none
        (or its files are gone or unreadable: the walk then answers what it can)."""
        scope = work.scope.memo
        if scope is None or not (scope.reuse_runs or scope.reuse_tenant):
            return None
        key = self.key(work, library, items, context)
        entry = find_chunk_entry(self.store, work.scope.storage_prefix, key, scope)
        if entry is None:
            return None
        try:
            result = cast("dict[str, Any]", get_json(self.store, entry.result_uri))
            parts = cast("list[dict[str, Any]]", result.get("parts") or [])
            contents = [content for part in parts for content in read_page(self.store, str(part["uri"]))]
        except (BlobNotFoundError, ValueError, KeyError, TypeError):
            return None
        if result.get("failed") or len(contents) != len(items):
            return None
        concept = result.get("concept")
        return RememberedChunk(
            contents, concept if isinstance(concept, str) else None, entry.invocations, entry.cost_usd
        )
