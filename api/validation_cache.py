"""Verdicts of methods the API accepted, by content: every start of the same bundles skips validation.

Validation (dry-run sweep included) is a pure function of the bundle texts, the model deck and the
registered function names, so a valid verdict is kept under the method digest and those names; the
app holds one cache, built with its deck: the service's deck (`service_deck`), the one the workers
resolve models in, so a kept verdict means the run finds its models. Invalid verdicts are not kept:
they are answered once and fixed, and keeping them would let a flood of distinct bad bundles evict
the good ones.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

from shared.language.model_deck import ModelDeck
from shared.language.report import BundleSource, ValidationReport
from shared.language.validator import validate_sources
from shared.runtime.function_registry import DEFAULT_REGISTRY
from shared.storage.run_storage import method_digest


class ValidationCache:
    """The `capacity` most recently used valid verdicts of one deck; thread-safe (validation runs on
    worker threads)."""

    def __init__(self, deck: ModelDeck, capacity: int = 256) -> None:
        self.deck = deck
        self.capacity = capacity
        self._verdicts: OrderedDict[tuple[str, frozenset[str]], ValidationReport] = OrderedDict()
        self._lock = threading.Lock()

    def validate(self, sources: Sequence[BundleSource]) -> ValidationReport:
        key = (method_digest(sources), DEFAULT_REGISTRY.names())
        with self._lock:
            report = self._verdicts.get(key)
            if report is not None:
                self._verdicts.move_to_end(key)
                return report
        report = validate_sources(sources, self.deck)
        if report.is_valid and report.library is not None:
            with self._lock:
                self._verdicts[key] = report
                while len(self._verdicts) > self.capacity:
                    self._verdicts.popitem(last=False)
        return report
