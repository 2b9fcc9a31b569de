"""The typed payloads of the chunk reuse activity: a resumed batch's chunk answered wholly from the memo.

Pure. Before a resuming batch starts a chunk workflow, it asks one activity to walk the chunk's items
with the memo alone (`worker/memo_walk.py`). When every invocation of every item has a reusable entry,
the activity stores the chunk's outputs and result as the chunk workflow would have, and the chunk
workflow never starts: a fully reused chunk costs one activity instead of a child workflow and its
activities. Otherwise nothing is stored and the chunk workflow runs as before.
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict

from shared.runs.batch_io import BatchWork, ChunkEnd

REUSE_CHUNK_ACTIVITY: Final = "reuse_chunk"


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ReuseChunkTask(_Payload):
    """One chunk of a batch (its items `start` to `start + count`), to be answered from the memo."""

    work: BatchWork
    index: int
    start: int
    count: int


class ReusedChunk(_Payload):
    """The chunk's end when the memo answered every item (its outputs and result are stored); None
    when it did not (nothing stored: the chunk workflow runs it)."""

    end: ChunkEnd | None = None
