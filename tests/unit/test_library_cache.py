"""Sharing what a method costs to load: libraries by digest, content models by library, methods stored once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from api.validation_cache import ValidationCache
from shared.language.library import Library
from shared.language.library_cache import LibraryCache
from shared.language.model_deck import builtin_deck
from shared.language.report import BundleSource
from shared.runtime.content_values import ContentValidator
from shared.storage.blob_store import LocalBlobStore
from shared.storage.run_storage import get_method, put_method
from tests.helpers.methods import library_of

STRUCTURED = """
domain = "orders"

[concept.Order]
description = "An order"

[concept.Order.structure]
item = { type = "text", description = "What", required = true }
"""


def test_a_library_loads_once_per_digest_and_the_oldest_leaves_first() -> None:
    cache = LibraryCache(capacity=2)
    loads: list[str] = []

    def loader(digest: str) -> Callable[[], Library]:
        def load() -> Library:
            loads.append(digest)
            return Library()

        return load

    first = cache.get_or_load("a", loader("a"))
    assert cache.get_or_load("a", loader("a")) is first
    cache.get_or_load("b", loader("b"))
    cache.get_or_load("a", loader("a"))  # a is now the most recent
    cache.get_or_load("c", loader("c"))  # evicts b
    cache.get_or_load("b", loader("b"))
    assert loads == ["a", "b", "c", "b"]


def test_validators_of_one_library_share_its_content_models() -> None:
    library = library_of(STRUCTURED)
    assert ContentValidator(library).validate("orders.Order", {"item": "tea"}) == {"item": "tea"}
    built = library.content_models["orders.Order"]
    ContentValidator(library).validate("orders.Order", {"item": "cake"})
    assert library.content_models["orders.Order"] is built


class CountingStore(LocalBlobStore):
    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.puts = 0

    def put(self, key: str, data: bytes, mime_type: str) -> str:
        self.puts += 1
        return super().put(key, data, mime_type)


def test_a_method_is_written_once_under_its_digest(tmp_path: Path) -> None:
    store = CountingStore(tmp_path)
    bundles = [BundleSource(path="a.mthds", text=STRUCTURED)]
    digest = put_method(store, bundles)
    assert put_method(store, bundles) == digest
    assert store.puts == 1
    assert get_method(store, digest) == bundles
    assert not store.exists("methods/none.json")
    assert not store.exists("../outside")


def test_valid_verdicts_are_kept_by_method_and_invalid_ones_are_not() -> None:
    cache = ValidationCache(builtin_deck())
    good = [BundleSource(path="a.mthds", text=STRUCTURED)]
    first = cache.validate(good)
    assert first.is_valid
    assert cache.validate([BundleSource(path="a.mthds", text=STRUCTURED)]) is first
    bad = [BundleSource(path="a.mthds", text="domain = 1")]
    refused = cache.validate(bad)
    assert not refused.is_valid
    assert cache.validate(bad) is not refused
