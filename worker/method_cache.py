"""Libraries by method digest, loaded from storage on first use and kept for the worker's lifetime."""

from __future__ import annotations

from shared.language.library import Library
from shared.language.library_cache import LibraryCache
from shared.language.validator import load_library
from shared.storage.blob_store import BlobStore
from shared.storage.run_storage import get_method


class MethodCache:
    """A small thread-safe LRU (activities prepare on worker threads): a batch of 10,000 items parses
    its method once, not 10,000 times."""

    def __init__(self, store: BlobStore, capacity: int = 64) -> None:
        self.store = store
        self._libraries = LibraryCache(capacity)

    def library(self, digest: str) -> Library:
        """The library stored under `digest`; raises `BlobNotFoundError` or `LibraryUnusable`."""
        return self._libraries.get_or_load(digest, lambda: load_library(get_method(self.store, digest)))
