"""The in-process operator executor: every operator that is not pure runs here (in the worker's activity,
or in the CLI's process).

PipeFunc runs registered functions and PipeDocGen renders documents into the blob store: neither needs
a model. The model-backed operators (PipeLLM, PipeJudge, PipeStructure, PipeSearch, PipeImgGen,
PipeExtract) need a deck and providers; without them (the CLI) they fail typed with
`model.unavailable`, and a dry run exercises them instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Final

from shared.language.library import Library
from shared.language.model_deck import ModelDeck
from shared.language.pipe_blueprints import (
    PipeDocGen,
    PipeExtract,
    PipeFunc,
    PipeImgGen,
    PipeJudge,
    PipeLLM,
    PipeSearch,
    PipeStructure,
)
from shared.runtime.function_context import function_deck
from shared.runtime.function_registry import DEFAULT_REGISTRY, FunctionRegistry
from shared.runtime.json_values import as_mapping
from shared.runtime.operator_call import OperatorCall, Produced
from shared.runtime.run_failure import FailureCode, PipeRunError
from shared.runtime.template_views import TemplateViews
from shared.storage.blob_store import BlobStore
from worker.files.input_files import InputFiles
from worker.operators.context import OperatorContext
from worker.operators.doc_gen import run_doc_gen
from worker.operators.extract import run_extract
from worker.operators.functions import run_function
from worker.operators.img_gen import run_img_gen
from worker.operators.judge import run_judge
from worker.operators.llm import run_llm
from worker.operators.search import run_search
from worker.operators.structure import run_structure
from worker.providers.registry import ProviderRegistry

ModelOperator = Callable[[OperatorCall, OperatorContext], Awaitable[Produced]]
MODEL_OPERATORS: Final[dict[type, ModelOperator]] = {
    PipeLLM: run_llm,
    PipeJudge: run_judge,
    PipeStructure: run_structure,
    PipeSearch: run_search,
    PipeImgGen: run_img_gen,
    PipeExtract: run_extract,
}


class LocalOperatorExecutor:
    """An `OperatorExecutor` for runs in this process (worker activities, CLI, tests)."""

    def __init__(
        self,
        library: Library,
        store: BlobStore,
        *,
        run_key: str,
        functions: FunctionRegistry = DEFAULT_REGISTRY,
        deck: ModelDeck | None = None,
        providers: ProviderRegistry | None = None,
        files: InputFiles | None = None,
    ) -> None:
        self.library = library
        self.views = TemplateViews(library)
        self.store = store
        self.run_key = run_key
        self.functions = functions
        self.deck = deck
        self.providers = providers
        self.files = files or InputFiles(store)

    async def run_operator(self, call: OperatorCall) -> Produced:
        blueprint = call.pipe.blueprint
        if isinstance(blueprint, PipeFunc):
            with function_deck(self.deck):
                return await run_function(call, self.functions)
        if isinstance(blueprint, PipeDocGen):
            # Off the loop: rendering is CPU-bound and the store's put may be a blocking S3 request.
            produced = await asyncio.to_thread(
                run_doc_gen, call, self.views, self.store, run_key=self.run_key
            )
            return self._with_public_url(produced)
        operator = MODEL_OPERATORS.get(type(blueprint))
        if operator is not None and self.deck is not None and self.providers is not None:
            context = OperatorContext(
                library=self.library,
                views=self.views,
                deck=self.deck,
                providers=self.providers,
                store=self.store,
                run_key=self.run_key,
                files=self.files,
            )
            return await operator(call, context)
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
