"""What every model-backed operator does around a model call: pick the deck model, call the provider
with its failures typed, and record the call's usage and cost.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, cast

from shared.language.model_deck import DeckModel, ModelDeck, ModelFamily
from shared.language.pipe_blueprints import LLMSetting
from shared.runs.timestamps import rfc3339
from shared.runtime.run_failure import FailureCode, PipeRunError
from shared.runtime.usage import INPUT, INPUT_CACHED, OUTPUT, UsageRecord, call_cost
from worker.operators import call_budget
from worker.providers.chat import ChatAnswer, ChatProvider, ChatRequest, ProviderError, TokenUsage

TIMEOUT_SETTING: Final = "timeout_seconds"
CHAT_TIMEOUT_SECONDS: Final = 120.0  # a chat call's default bound (structured answers of long prompts)


def resolve_model(
    deck: ModelDeck, family: ModelFamily, chosen: str | None, defaults: Sequence[str]
) -> tuple[str, DeckModel]:
    """The handle and deck model for the pipe's `chosen` reference, else the first default that exists;
    `model.unknown` when none does."""
    references = [chosen] if chosen else list(defaults)
    for reference in references:
        found = deck.resolve(family, reference)
        if found is not None:
            return found
    wanted = references[0] if references else f"a default {family} model"
    msg = f"the model deck has no {family} model for '{wanted}'"
    raise PipeRunError(FailureCode.MODEL_UNKNOWN, msg, params={"model": wanted, "family": str(family)})


def typed(error: ProviderError, handle: str) -> PipeRunError:
    """A provider's failure as the pipe's failure, keeping its retry advice."""
    params: dict[str, Any] = {**error.params, "model": handle}
    if error.retry_after is not None:
        params["retry_after"] = error.retry_after
    return PipeRunError(error.code, error.message, retryable=error.retryable, params=params)


async def chat(provider: ChatProvider, request: ChatRequest, handle: str, model: DeckModel) -> ChatAnswer:
    """`provider`'s answer to `request`; a `ProviderError` becomes a typed `PipeRunError`.

    In a run with a budget, the call is capped (`max_tokens`), its worst case reserved first (refused:
    `run.budget_exceeded`, and no call), and its actual cost settled after (`call_budget.py`).
    """
    cap = call_budget.output_cap()
    if cap is not None and request.max_tokens is None:
        request = dataclasses.replace(request, max_tokens=cap)
    costs, image_cost = model_costs(model)
    return await call_budget.within_budget(
        lambda: call_budget.call_estimate(request, costs, image_cost),
        lambda: _provider_chat(provider, request, handle),
        lambda answer: call_budget.priced(tokens_of(answer.usage), costs, image_cost),
    )


async def _provider_chat(provider: ChatProvider, request: ChatRequest, handle: str) -> ChatAnswer:
    try:
        return await provider.chat(request)
    except ProviderError as error:
        raise typed(error, handle) from error


def sampling(setting: LLMSetting | None) -> tuple[float | None, int | None]:
    """The temperature and max_tokens a pipe's model table sets (`"auto"` leaves max_tokens unset)."""
    if setting is None:
        return None, None
    return setting.temperature, setting.max_tokens if isinstance(setting.max_tokens, int) else None


def _settings(model: DeckModel) -> dict[str, Any]:
    settings = (model.model_extra or {}).get("settings")
    return cast("dict[str, Any]", settings) if isinstance(settings, dict) else {}


def deck_extra(model: DeckModel) -> dict[str, Any]:
    """The deck entry's provider settings (`[models.x.settings]`), sent with every call to that model;
    `timeout_seconds` is ours (`call_timeout`), never sent."""
    return {key: value for key, value in _settings(model).items() if key != TIMEOUT_SETTING}


def call_timeout(model: DeckModel, default: float) -> float:
    """How long one call to `model` may take: the deck's `settings.timeout_seconds`, else `default`.
    A call past it fails `provider.timeout` (retried by the activity's policy)."""
    value = _settings(model).get(TIMEOUT_SETTING)
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return default


def model_costs(model: DeckModel) -> tuple[dict[str, float] | None, float | None]:
    """The deck entry's `costs` (USD per million tokens by category) and `image_cost` (USD per image)."""
    extra = model.model_extra or {}
    raw = extra.get("costs")
    costs: dict[str, float] | None = None
    if isinstance(raw, dict):
        costs = {
            str(key): float(value)
            for key, value in cast("dict[str, Any]", raw).items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        }
    image_cost = extra.get("image_cost")
    return costs, float(image_cost) if isinstance(image_cost, int | float) else None


def tokens_of(usage: TokenUsage) -> dict[str, int]:
    tokens = {INPUT: usage.input_tokens, OUTPUT: usage.output_tokens}
    if usage.cached_input_tokens:
        tokens[INPUT_CACHED] = usage.cached_input_tokens
    return tokens


def usage_record(
    *,
    family: ModelFamily,
    handle: str,
    model: DeckModel,
    pipe_code: str,
    job_category: str,
    unit_job_id: str,
    tokens: Mapping[str, int],
    started_at: datetime,
    completed_at: datetime | None = None,
    model_id: str | None = None,
) -> UsageRecord:
    """One call's record, priced from the deck."""
    costs, image_cost = model_costs(model)
    return UsageRecord(
        model_type=str(family),
        inference_model_name=handle,
        inference_model_id=model_id or model.model,
        pipe_code=pipe_code,
        job_category=job_category,
        unit_job_id=unit_job_id,
        nb_tokens_by_category=dict(tokens),
        cost=call_cost(costs, tokens, image_cost),
        started_at=rfc3339(started_at),
        completed_at=rfc3339(completed_at or datetime.now(UTC)),
    )


def chat_usage(
    answer: ChatAnswer,
    *,
    family: ModelFamily,
    handle: str,
    model: DeckModel,
    pipe_code: str,
    job_category: str,
    unit_job_id: str,
    started_at: datetime,
) -> UsageRecord:
    """The record of one chat call."""
    return usage_record(
        family=family,
        handle=handle,
        model=model,
        pipe_code=pipe_code,
        job_category=job_category,
        unit_job_id=unit_job_id,
        tokens=tokens_of(answer.usage),
        started_at=started_at,
        model_id=answer.model,
    )


def now() -> datetime:
    return datetime.now(UTC)
