"""PipeSearch for real (mthds.md §2.8): the prompt rendered, the deck's search model asked, its answer and
sources returned as a `SearchResult` (mthds.md §1.5).

The search provider is the deck's `search` family model (builtin: `web-search`, OpenAI's
`gpt-4o-search-preview`), reached through the OpenAI-compatible client (`OPENAI_API_KEY`,
`OPENAI_BASE_URL`); `worker/providers/search.py` says exactly what is sent. A deck entry whose provider
is `openai` is OpenAI's own API and gets no Perplexity filter fields; any other OpenAI-compatible name
(`openai_compatible`) gets them. Sources become native Documents, one per URL, at most `max_results`.
`include_images` is accepted and not used: a SearchResult has no place for images.

No search provider configured (no search model in the deck, or its provider has no key or no client) is
`provider.unavailable`, not retryable, naming the setting to set. A `SearchResult[]` or
`SearchResult[N]` output asks once per item (N, else one). Each call leaves a usage record.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Final

from shared.language.model_choice import DEFAULT_SEARCH
from shared.language.model_deck import DeckModel, ModelFamily
from shared.language.pipe_blueprints import PipeSearch, SearchSetting
from shared.runtime.content_values import ContentRefused, ContentValidator
from shared.runtime.operator_call import OperatorCall, Produced
from shared.runtime.operator_prompts import render_operator_templates
from shared.runtime.run_failure import FailureCode, PipeRunError
from shared.runtime.usage import UsageRecord
from worker.operators import call_budget
from worker.operators.context import OperatorContext
from worker.operators.model_calls import (
    call_timeout,
    deck_extra,
    model_costs,
    now,
    resolve_model,
    tokens_of,
    typed,
    usage_record,
)
from worker.providers.chat import ChatRequest, ProviderError
from worker.providers.registry import OPENAI
from worker.providers.search import SearchAnswer, SearchFilters, SearchProvider, SearchRequest

JOB_CATEGORY: Final = "search"


SEARCH_TIMEOUT_SECONDS: Final = 180.0  # search models browse before answering
# Sent with a budgeted run's search calls (as the deck's `settings` are) when the deck sets no cap.
_OUTPUT_CAP_SETTING: Final = "max_completion_tokens"


async def run_search(call: OperatorCall, context: OperatorContext) -> Produced:
    """The call's output found by its search model; failures raise a typed `PipeRunError`."""
    blueprint = call.pipe.blueprint
    if not isinstance(blueprint, PipeSearch):
        msg = f"run_search runs PipeSearch pipes, not {blueprint.type}"
        raise TypeError(msg)
    setting = blueprint.model if isinstance(blueprint.model, SearchSetting) else None
    chosen = setting.model if setting is not None else blueprint.model
    handle, model = _search_model(context, chosen if isinstance(chosen, str) else None)
    provider = _provider(context, model)
    max_results = blueprint.max_results or (setting.max_results if setting is not None else None)
    request = SearchRequest(
        model=model.model,
        prompt=render_operator_templates(call, context.views).get("prompt", ""),
        filters=SearchFilters(
            include_domains=tuple(blueprint.include_domains or ()),
            exclude_domains=tuple(blueprint.exclude_domains or ()),
            from_date=blueprint.from_date,
            to_date=blueprint.to_date,
            max_results=max_results,
        ),
        inline_citations=setting.include_inline_citations if setting is not None else True,
        settings=deck_extra(model),
        timeout_seconds=call_timeout(model, SEARCH_TIMEOUT_SECONDS),
    )
    validator = ContentValidator(context.library)
    count = (call.output.count or 1) if call.output.is_list else 1
    contents: list[Any] = []
    usages: list[UsageRecord] = []
    for index in range(count):
        unit = f"search-{index}" if call.output.is_list else "search"
        content, usage = await _search(call, provider, request, handle, model, unit, max_results)
        contents.append(_checked(validator, call, content))
        usages.append(usage)
    produced = Produced.of_items(contents) if call.output.is_list else Produced(contents[0])
    return dataclasses.replace(produced, usages=tuple(usages))


def _search_model(context: OperatorContext, chosen: str | None) -> tuple[str, DeckModel]:
    try:
        return resolve_model(context.deck, ModelFamily.SEARCH, chosen, [DEFAULT_SEARCH])
    except PipeRunError as error:
        if chosen is not None:  # a model the bundle names and the deck lacks stays `model.unknown`
            raise
        msg = (
            "no search provider is configured: the model deck has no search model for "
            f"'{DEFAULT_SEARCH}'; set MODEL_DECK to a deck with a `type = \"search\"` model aliased "
            "`default-search` under [aliases.search]"
        )
        raise PipeRunError(FailureCode.PROVIDER_UNAVAILABLE, msg, params=error.params) from error


def _provider(context: OperatorContext, model: DeckModel) -> SearchProvider:
    try:
        chat = context.providers.openai_for(model)
    except PipeRunError as error:  # `model.unavailable`: no key, or a provider we cannot search with
        msg = (
            f"no search provider is configured: {error.message}; set OPENAI_API_KEY (and OPENAI_BASE_URL "
            "for a server other than OpenAI) on the worker, or give the deck's search model an "
            "OpenAI-compatible provider"
        )
        raise PipeRunError(FailureCode.PROVIDER_UNAVAILABLE, msg, params=error.params) from error
    return SearchProvider(chat, openai_proper=model.provider == OPENAI)


async def _search(
    call: OperatorCall,
    provider: SearchProvider,
    request: SearchRequest,
    handle: str,
    model: DeckModel,
    unit: str,
    max_results: int | None,
) -> tuple[dict[str, Any], UsageRecord]:
    started = now()
    try:
        answer = await _searched(provider, request, model)
    except ProviderError as error:
        raise typed(error, handle) from error
    usage = usage_record(
        family=ModelFamily.SEARCH,
        handle=handle,
        model=model,
        pipe_code=call.pipe.code,
        job_category=JOB_CATEGORY,
        unit_job_id=unit,
        tokens=tokens_of(answer.usage),
        started_at=started,
        model_id=answer.model,
    )
    sources = answer.sources[:max_results] if max_results else answer.sources
    documents = [
        {
            "url": source.url,
            "public_url": None,
            "mime_type": None,
            "filename": None,
            "title": source.title,
            "snippet": source.snippet,
        }
        for source in sources
    ]
    return {"answer": answer.answer, "sources": documents}, usage


async def _searched(provider: SearchProvider, request: SearchRequest, model: DeckModel) -> SearchAnswer:
    """The provider's answer; in a budgeted run, capped and its worst case reserved first, as a chat
    call's (`call_budget.py`): the prompt it sends is `request.prompt` and the filters' sentences."""
    default_cap = call_budget.output_cap()
    if default_cap is None:
        return await provider.search(request)
    cap = request.settings.get(_OUTPUT_CAP_SETTING)
    if not isinstance(cap, int):
        cap = default_cap
        request = dataclasses.replace(request, settings={**request.settings, _OUTPUT_CAP_SETTING: cap})
    prompt = "\n".join([request.prompt, *request.filters.instructions()])
    as_chat = ChatRequest(model=request.model, user=prompt, max_tokens=cap)
    costs, image_cost = model_costs(model)
    return await call_budget.within_budget(
        lambda: call_budget.call_estimate(as_chat, costs, image_cost),
        lambda: provider.search(request),
        lambda answer: call_budget.priced(tokens_of(answer.usage), costs, image_cost),
    )


def _checked(validator: ContentValidator, call: OperatorCall, content: dict[str, Any]) -> Any:
    """`content` as the output concept holds it; a refinement asking for more is `pipe.output_invalid`."""
    try:
        return validator.validate(call.output.concept, content)
    except ContentRefused as refused:
        msg = f"a search result does not fit '{call.output.concept}': {'; '.join(refused.reasons)}"
        raise PipeRunError(
            FailureCode.OUTPUT_INVALID, msg, params={"concept": call.output.concept}
        ) from refused
