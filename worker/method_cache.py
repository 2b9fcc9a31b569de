"""Libraries by method digest, loaded from storage on first use and kept for the worker's lifetime."""

from __future__ import annotations

from collections import OrderedDict

from shared.language.library import Library
from shared.language.validator import load_library
from shared.storage.blob_store import BlobStore
from shared.storage.run_storage import get_method


class MethodCache:
    """A small LRU: a batch of 10,000 items parses its method once, not 10,000 times."""

    def __init__(self, store: BlobStore, capacity: int = 64) -> None:
        self.store = store
        self.capacity = capacity
        self._libraries: OrderedDict[str, Library] = OrderedDict()

    def library(self, digest: str) -> Library:
        """The library stored under `digest`; raises `BlobNotFoundError` or `LibraryUnusable`."""
        library = self._libraries.get(digest)
        if library is None:
            library = load_library(get_method(self.store, digest))
            self._libraries[digest] = library
            if len(self._libraries) > self.capacity:
                self._libraries.popitem(last=False)
        else:
            self._libraries.move_to_end(digest)
        return library
