"""Token usage and cost records of model calls (http-api.md §5 `tokens_usages`). Pure.

Every model call an operator makes yields one `UsageRecord`. Its `cost` comes from the deck model's
`costs` table, in USD per million units of each category (`input`, `input_cached`, `output`), plus
`image_cost` USD per generated image; a model without prices records `cost: null`, never a guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

PER_MILLION: Final = 1_000_000
INPUT: Final = "input"
INPUT_CACHED: Final = "input_cached"
OUTPUT: Final = "output"
IMAGES: Final = "images"  # generated images: priced per image by `image_cost`


class UsageRecord(BaseModel):
    """One model call, with the full key set of the reference's records."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_type: str  # the deck family: llm, judgment, extract, img_gen, search
    inference_model_name: str  # the deck handle the bundle's reference resolved to
    inference_model_id: str  # the provider's model id
    pipe_code: str
    job_category: str  # what the call did: llm_text, llm_object, judgment, extract, img_gen, search
    unit_job_id: str  # which call of the pipe: e.g. "choice-0", "repair", "page-3"
    nb_tokens_by_category: dict[str, int] = Field(default_factory=dict[str, int])
    cost: float | None = None
    started_at: str
    completed_at: str


def call_cost(
    costs: Mapping[str, float] | None, tokens: Mapping[str, int], image_cost: float | None = None
) -> float | None:
    """USD for `tokens` at `costs` (per million of each category); None when the model has no prices.

    Cached input tokens are priced at `input_cached` when given, else at `input`; they are counted
    inside `input` too (as providers report them), so only the difference is added for them.
    """
    if not costs and image_cost is None:
        return None
    prices = dict(costs or {})
    total = 0.0
    for category, count in tokens.items():
        if category == IMAGES:
            total += count * (image_cost or 0.0)
        elif category == INPUT_CACHED:
            cached_price = prices.get(INPUT_CACHED, prices.get(INPUT, 0.0))
            total += count * (cached_price - prices.get(INPUT, 0.0)) / PER_MILLION
        else:
            total += count * prices.get(category, 0.0) / PER_MILLION
    return round(total, 10)


def total_cost(records: Iterable[UsageRecord]) -> float | None:
    """The sum of the records' costs; None when no record has a price."""
    costs = [record.cost for record in records if record.cost is not None]
    return round(sum(costs), 10) if costs else None


def tokens_total(records: Iterable[UsageRecord]) -> dict[str, int]:
    """Tokens by category over all `records`."""
    totals: dict[str, int] = {}
    for record in records:
        for category, count in record.nb_tokens_by_category.items():
            totals[category] = totals.get(category, 0) + count
    return totals
