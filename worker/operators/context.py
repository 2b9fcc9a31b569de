"""What a model-backed operator may use: the method, the deck, the providers, storage, input files.

One `OperatorContext` per operator call (cheap: it only holds references the worker keeps alive).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.language.library import Library
from shared.language.model_deck import ModelDeck
from shared.runtime.template_views import TemplateViews
from shared.storage.blob_store import BlobStore
from worker.files.input_files import InputFiles
from worker.providers.registry import ProviderRegistry


@dataclass(frozen=True, slots=True)
class OperatorContext:
    library: Library
    views: TemplateViews
    deck: ModelDeck
    providers: ProviderRegistry
    store: BlobStore
    # Where this run's generated files (images, extracted pages, documents) are stored.
    run_key: str
    files: InputFiles
