"""The one interface model-backed operators call (issue 6): a chat request in, answers and usage out.

Providers (OpenAI-compatible, Anthropic) translate it to their SDK and map every SDK failure to a
`ProviderError` whose `code` is a problem code of http-api.md §13.2, and whose `retryable` tells the
activity's retry policy whether trying again can help (rate limits, timeouts, 5xx: yes; a refused
credential, a context too long, a malformed request: no). `retry_after` carries the provider's
`Retry-After` when it gave one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class ProviderCode(StrEnum):
    RATE_LIMITED = "provider.rate_limited"
    CREDENTIAL_REFUSED = "provider.credential_refused"
    TIMEOUT = "provider.timeout"
    UNAVAILABLE = "provider.unavailable"  # 5xx, overloaded, connection failures
    FAILED = "provider.failed"  # the provider refused the request itself (4xx), e.g. context too long
    RESPONSE_INVALID = "provider.response_invalid"  # an answer the SDK or we cannot read


class ProviderError(Exception):
    def __init__(
        self,
        code: ProviderCode,
        message: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.params = params or {}


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image given to the model: an http(s) or `data:` URL the provider can read."""

    url: str


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str  # the provider's model id (the deck resolved the handle)
    user: str
    system: str | None = None
    images: tuple[ImagePart, ...] = ()
    # A JSON Schema the answer must follow (structured output); None for free text.
    json_schema: dict[str, Any] | None = None
    schema_name: str = "output"
    n: int = 1
    temperature: float | None = None
    max_tokens: int | None = None
    timeout_seconds: float = 120
    extra: dict[str, Any] = field(default_factory=dict[str, Any])  # provider-specific settings from the deck


@dataclass(frozen=True, slots=True)
class TokenUsage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0


@dataclass(frozen=True, slots=True)
class ChatAnswer:
    """`texts` holds one answer per requested choice (JSON text when a schema was given)."""

    texts: tuple[str, ...]
    usage: TokenUsage
    model: str


class ChatProvider(Protocol):
    async def chat(self, request: ChatRequest) -> ChatAnswer: ...
