"""Libraries by method digest, shared by the runs of one process (the workflow's own copy of a method).

A library is a pure function of its bundle texts and is not changed once assembled, so every run of
the same method may share one, including its content models; this keeps replay deterministic while
sparing each run the parse and assembly. Workflows run on several threads, hence the lock.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from shared.language.library import Library


class LibraryCache:
    """The `capacity` most recently used libraries, by digest."""

    def __init__(self, capacity: int = 64) -> None:
        self.capacity = capacity
        self._libraries: OrderedDict[str, Library] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_load(self, digest: str, load: Callable[[], Library]) -> Library:
        with self._lock:
            library = self._libraries.get(digest)
            if library is not None:
                self._libraries.move_to_end(digest)
                return library
        library = load()  # outside the lock: a parse can take a while, and a racing twin is harmless
        with self._lock:
            self._libraries[digest] = library
            while len(self._libraries) > self.capacity:
                self._libraries.popitem(last=False)
        return library


WORKFLOW_LIBRARIES = LibraryCache()
