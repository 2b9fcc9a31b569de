"""Provider rate limits a deck declares: a model's `[models.<handle>.rate]` or a provider's
`[provider_rates.<provider>]` table. Pure.

A rate is enforced by Temporal, not by us: every call to a rate-limited model goes to a task queue of its
own, and the workers polling that queue set its activities-per-second, which the server enforces across
every worker process and host (docs/design/worker-pools.md). Temporal limits starts per second only, so
a `tokens_per_minute` limit becomes a call rate through `tokens_per_call`, the tokens one call is expected
to use (prompt and answer): `tokens_per_minute / 60 / tokens_per_call` calls a second. That is a pace,
not an exact token count: calls far larger than `tokens_per_call` can still meet the provider's 429, which
the activity retries after the provider's `Retry-After`.
"""

from __future__ import annotations

from typing import Any, Final, cast

from pydantic import BaseModel, ConfigDict, PositiveFloat, PositiveInt, ValidationError, model_validator

DEFAULT_TOKENS_PER_CALL: Final = 1000
RATE_FIELD: Final = "rate"


class ModelRate(BaseModel):
    """At most `calls_per_second` calls, and about `tokens_per_minute` tokens, across every worker."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    calls_per_second: PositiveFloat | None = None
    tokens_per_minute: PositiveInt | None = None
    tokens_per_call: PositiveInt = DEFAULT_TOKENS_PER_CALL

    @model_validator(mode="after")
    def _limits_something(self) -> ModelRate:
        if self.calls_per_second is None and self.tokens_per_minute is None:
            msg = "a rate needs calls_per_second, tokens_per_minute or both"
            raise ValueError(msg)
        return self

    @property
    def activities_per_second(self) -> float:
        """The call rate Temporal enforces: the stricter of both limits."""
        limits: list[float] = []
        if self.calls_per_second is not None:
            limits.append(self.calls_per_second)
        if self.tokens_per_minute is not None:
            limits.append(self.tokens_per_minute / 60 / self.tokens_per_call)
        return min(limits)


class RateError(ValueError):
    """A rate table of the deck is unusable; the message names it."""


def model_rate(extra: dict[str, Any] | None, handle: str) -> ModelRate | None:
    """The `[models.<handle>.rate]` table of a deck entry's extra fields, or None; `RateError` when bad."""
    raw = (extra or {}).get(RATE_FIELD)
    if raw is None:
        return None
    try:
        return ModelRate.model_validate(cast(object, raw))
    except ValidationError as exc:
        msg = f"[models.{handle}.rate] is not a usable rate: {_reasons(exc)}"
        raise RateError(msg) from exc


def _reasons(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'rate'}: {error['msg']}" for error in exc.errors()
    )
