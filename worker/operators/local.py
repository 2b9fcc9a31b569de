"""The in-process operator executor: pure-ish operators run here; model-backed ones need a provider.

PipeFunc runs registered functions, PipeDocGen renders documents into the blob store, PipeLLM calls its
model when a deck and providers are given. Other model-backed operators (PipeExtract, ...), and PipeLLM
without providers (CLI), fail typed with `model.unavailable`.
"""

from __future__ import annotations

import asyncio

from shared.language.library import Library
from shared.language.model_deck import ModelDeck
from shared.language.pipe_blueprints import PipeDocGen, PipeFunc, PipeLLM
from shared.runtime.function_registry import DEFAULT_REGISTRY, FunctionRegistry
from shared.runtime.json_values import as_mapping
from shared.runtime.operator_call import OperatorCall, Produced
from shared.runtime.run_failure import FailureCode, PipeRunError
from shared.runtime.template_views import TemplateViews
from shared.storage.blob_store import BlobStore
from worker.operators.doc_gen import run_doc_gen
from worker.operators.functions import run_function
from worker.operators.llm import run_llm
from worker.providers.registry import ProviderRegistry


class LocalOperatorExecutor:
    """An `OperatorExecutor` for runs in this process (CLI, tests)."""

    def __init__(
        self,
        library: Library,
        store: BlobStore,
        *,
        run_key: str,
        functions: FunctionRegistry = DEFAULT_REGISTRY,
        deck: ModelDeck | None = None,
        providers: ProviderRegistry | None = None,
    ) -> None:
        self.library = library
        self.views = TemplateViews(library)
        self.store = store
        self.run_key = run_key
        self.functions = functions
        self.deck = deck
        self.providers = providers

    async def run_operator(self, call: OperatorCall) -> Produced:
        blueprint = call.pipe.blueprint
        if isinstance(blueprint, PipeFunc):
            return await run_function(call, self.functions)
        if isinstance(blueprint, PipeDocGen):
            # Off the loop: rendering is CPU-bound and the store's put may be a blocking S3 request.
            produced = await asyncio.to_thread(
                run_doc_gen, call, self.views, self.store, run_key=self.run_key
            )
            return self._with_public_url(produced)
        if isinstance(blueprint, PipeLLM) and self.deck is not None and self.providers is not None:
            return await run_llm(call, self.views, self.library, self.deck, self.providers)
        raise PipeRunError(
            FailureCode.MODEL_UNAVAILABLE,
            f"{blueprint.type} '{call.pipe.code}' needs a model, and no model provider is configured "
            f"for this run; use a dry run to exercise it without one",
            params={"pipe_type": blueprint.type},
        )

    def _with_public_url(self, produced: Produced) -> Produced:
        fields = as_mapping(produced.content)
        url = fields.get("url") if fields is not None else None
        if fields is None or not isinstance(url, str) or fields.get("public_url"):
            return produced
        return Produced({**fields, "public_url": self.store.public_url(url)}, produced.concept)
