"""The OpenAI-compatible chat provider (issue 6): a `ChatRequest` sent through the official `openai` SDK.

Any server speaking chat completions works (`base_url`, else the SDK's `OPENAI_BASE_URL`). SDK retries
are off by default: the activity's retry policy retries, guided by each `ProviderError`'s `retryable`.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Any, Self

import openai
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionContentPartParam,
    ChatCompletionMessageParam,
)
from openai.types.chat.completion_create_params import ResponseFormat

from worker.providers.chat import ChatAnswer, ChatRequest, ProviderCode, ProviderError, TokenUsage
from worker.tracing import traced_call

PROVIDER = "openai"
CONTEXT_TOO_LONG = "context_length_exceeded"
REDACTED = "[redacted]"


class OpenAIChatProvider:
    """A `ChatProvider` over one `openai.AsyncOpenAI` client; close it with `aclose` or `async with`."""

    def __init__(self, api_key: str, base_url: str | None = None, *, max_retries: int = 0) -> None:
        self._api_key = api_key
        self._client = openai.AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=max_retries)

    @traced_call("chat", PROVIDER)
    async def chat(self, request: ChatRequest) -> ChatAnswer:
        try:
            completion = await self._client.chat.completions.create(
                model=request.model,
                messages=_messages(request),
                response_format=_response_format(request),
                n=request.n if request.n != 1 else openai.omit,
                temperature=openai.omit if request.temperature is None else request.temperature,
                max_completion_tokens=openai.omit if request.max_tokens is None else request.max_tokens,
                timeout=request.timeout_seconds,
                extra_body=dict(request.extra) or None,
            )
        except openai.OpenAIError as exc:
            raise self._provider_error(exc) from exc
        return _answer(completion, request.model)

    @property
    def client(self) -> openai.AsyncOpenAI:
        """The SDK client, shared with the other OpenAI APIs (images, search) this provider's key serves."""
        return self._client

    def provider_error(self, exc: openai.OpenAIError) -> ProviderError:
        """The typed error for an SDK failure of any OpenAI API call, with the key redacted."""
        return self._provider_error(exc)

    async def aclose(self) -> None:
        await self._client.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc_info: object) -> None:
        await self.aclose()

    def _provider_error(self, exc: openai.OpenAIError) -> ProviderError:
        error = _map_error(exc)
        if self._api_key and self._api_key in error.message:  # some servers echo the key they refused
            error = ProviderError(
                error.code,
                error.message.replace(self._api_key, REDACTED),
                retryable=error.retryable,
                retry_after=error.retry_after,
                params=error.params,
            )
        return error


def _messages(request: ChatRequest) -> list[ChatCompletionMessageParam]:
    messages: list[ChatCompletionMessageParam] = []
    if request.system is not None:
        messages.append({"role": "system", "content": request.system})
    if not request.images:
        messages.append({"role": "user", "content": request.user})
        return messages
    parts: list[ChatCompletionContentPartParam] = [{"type": "text", "text": request.user}]
    parts.extend({"type": "image_url", "image_url": {"url": image.url}} for image in request.images)
    messages.append({"role": "user", "content": parts})
    return messages


def _response_format(request: ChatRequest) -> ResponseFormat | openai.Omit:
    if request.json_schema is None:
        return openai.omit
    # Not strict: OpenAI's strict mode refuses common schemas (optional keys, open objects); we validate.
    return {
        "type": "json_schema",
        "json_schema": {"name": request.schema_name, "schema": request.json_schema, "strict": False},
    }


def _answer(completion: ChatCompletion, model: str) -> ChatAnswer:
    texts = tuple(choice.message.content for choice in completion.choices)
    if not texts:
        msg = "the answer had no choices"
        raise _invalid(msg)
    if any(text is None for text in texts):
        refusals = [choice.message.refusal for choice in completion.choices if choice.message.refusal]
        reason = f"the model refused: {refusals[0]}" if refusals else "a choice had no content"
        raise _invalid(reason)
    usage = completion.usage
    cached = 0
    if usage is not None and usage.prompt_tokens_details is not None:
        cached = usage.prompt_tokens_details.cached_tokens or 0
    return ChatAnswer(
        texts=tuple(text for text in texts if text is not None),
        usage=TokenUsage(
            input_tokens=usage.prompt_tokens if usage is not None else 0,
            output_tokens=usage.completion_tokens if usage is not None else 0,
            cached_input_tokens=cached,
        ),
        model=completion.model or model,
    )


def _invalid(message: str) -> ProviderError:
    return ProviderError(
        ProviderCode.RESPONSE_INVALID, message, retryable=True, params={"provider": PROVIDER}
    )


def _map_error(exc: openai.OpenAIError) -> ProviderError:
    params: dict[str, Any] = {"provider": PROVIDER}
    if isinstance(exc, openai.APITimeoutError):  # before APIConnectionError, its base
        return ProviderError(
            ProviderCode.TIMEOUT, "the provider did not answer in time", retryable=True, params=params
        )
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError(
            ProviderCode.UNAVAILABLE, "could not reach the provider", retryable=True, params=params
        )
    if not isinstance(exc, openai.APIStatusError):  # e.g. an answer the SDK could not read
        return ProviderError(ProviderCode.RESPONSE_INVALID, str(exc), retryable=True, params=params)
    status = exc.status_code
    params["status"] = status
    message = exc.message
    if isinstance(exc, openai.RateLimitError):
        retry_after = _retry_after(exc.response.headers)
        return ProviderError(
            ProviderCode.RATE_LIMITED, message, retryable=True, retry_after=retry_after, params=params
        )
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return ProviderError(ProviderCode.CREDENTIAL_REFUSED, message, retryable=False, params=params)
    if status == 408:  # Request Timeout
        return ProviderError(ProviderCode.TIMEOUT, message, retryable=True, params=params)
    if status >= 500:  # the server's fault: trying again may help
        return ProviderError(ProviderCode.UNAVAILABLE, message, retryable=True, params=params)
    if _is_context_too_long(exc):
        params["reason"] = "context_too_long"
    return ProviderError(ProviderCode.FAILED, message, retryable=False, params=params)


def _is_context_too_long(exc: openai.APIStatusError) -> bool:
    text = exc.message.lower()
    return exc.code == CONTEXT_TOO_LONG or "context length" in text or "context window" in text


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from `retry-after-ms`, else `retry-after` (seconds or an HTTP date), as the SDK reads them."""
    for name, divisor in (("retry-after-ms", 1000), ("retry-after", 1)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) / divisor)
        except ValueError:
            continue
    raw = headers.get("retry-after")
    parsed = email.utils.parsedate_tz(raw) if raw is not None else None
    if parsed is None:
        return None
    return max(0.0, email.utils.mktime_tz(parsed) - time.time())
