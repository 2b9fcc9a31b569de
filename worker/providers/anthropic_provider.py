"""The Anthropic messages API behind `ChatProvider` (issue 6), through the official `anthropic` SDK.

Translates a `ChatRequest` into `messages.create` calls (a forced tool for structured output, one call
per choice since the API has no `n`) and every SDK failure into a typed `ProviderError`. `temperature`
is not sent: API version 2026-10-21, which this SDK speaks, removed the sampling parameters (a 400 if
given). The SDK's own retries are off by default: Temporal's activity retry policy decides.
"""

from __future__ import annotations

import binascii
import json
import re
from base64 import b64decode
from collections.abc import Mapping
from typing import Literal

import anthropic
from anthropic import Omit, omit
from anthropic.types import (
    ImageBlockParam,
    Message,
    MessageParam,
    TextBlockParam,
    ToolChoiceToolParam,
    ToolParam,
)

from worker.providers.chat import ChatAnswer, ChatRequest, ProviderCode, ProviderError, TokenUsage
from worker.tracing import traced_call

DEFAULT_MAX_TOKENS = 4096  # the API requires max_tokens; this is what a request without one gets
ImageMediaType = Literal["image/jpeg", "image/png", "image/gif", "image/webp"]
MEDIA_TYPES: dict[str, ImageMediaType] = {
    "image/jpeg": "image/jpeg",
    "image/png": "image/png",
    "image/gif": "image/gif",
    "image/webp": "image/webp",
}
DATA_URL = re.compile(r"^data:(?P<media>[\w.+-]+/[\w.+-]+)(?:;[^,;]*)*;base64,(?P<data>.*)$", re.DOTALL)
# Anthropic's wording for a prompt over the model's window ("prompt is too long: N tokens > M maximum",
# "input length and `max_tokens` exceed context limit"): it has no stable error code for it.
CONTEXT_TOO_LONG = re.compile(r"too long|context (limit|length|window)", re.IGNORECASE)


class AnthropicChatProvider:
    """A `ChatProvider` for the Anthropic API (or any server speaking it at `base_url`)."""

    def __init__(self, api_key: str, base_url: str | None = None, *, max_retries: int = 0) -> None:
        self._client = anthropic.AsyncAnthropic(api_key=api_key, base_url=base_url, max_retries=max_retries)

    async def aclose(self) -> None:
        """Close the HTTP connections of the client."""
        await self._client.close()

    async def chat(self, request: ChatRequest) -> ChatAnswer:
        """`request.n` answers (one call each) with their usage summed."""
        texts: list[str] = []
        usage = TokenUsage()
        model = request.model
        for _ in range(max(1, request.n)):
            message = await self._call(request)
            texts.append(_answer_text(message, request))
            usage = _add(usage, message)
            model = message.model
        return ChatAnswer(texts=tuple(texts), usage=usage, model=model)

    @traced_call("chat", "anthropic")
    async def _call(self, request: ChatRequest) -> Message:
        content: list[TextBlockParam | ImageBlockParam] = [
            _image_block(image.url) for image in request.images
        ]
        content.append({"type": "text", "text": request.user})
        messages: list[MessageParam] = [{"role": "user", "content": content}]
        tools: list[ToolParam] | Omit = omit
        tool_choice: ToolChoiceToolParam | Omit = omit
        if request.json_schema is not None:  # one forced tool: its input is the structured answer
            tools = [{"name": request.schema_name, "input_schema": request.json_schema}]
            tool_choice = {"type": "tool", "name": request.schema_name}
        try:
            return await self._client.messages.create(
                model=request.model,
                max_tokens=request.max_tokens or DEFAULT_MAX_TOKENS,
                messages=messages,
                system=omit if request.system is None else request.system,
                tools=tools,
                tool_choice=tool_choice,
                extra_body=request.extra or None,
                timeout=request.timeout_seconds,
            )
        except anthropic.APIError as exc:
            raise provider_error(exc) from exc


def provider_error(exc: anthropic.APIError) -> ProviderError:
    """The typed error for an SDK failure; its message is the provider's, which never holds the key."""
    if isinstance(exc, anthropic.APITimeoutError):  # before APIConnectionError, its base class
        return ProviderError(ProviderCode.TIMEOUT, "the Anthropic API did not answer in time", retryable=True)
    if isinstance(exc, anthropic.APIConnectionError):
        return ProviderError(
            ProviderCode.UNAVAILABLE, f"cannot reach the Anthropic API: {exc}", retryable=True
        )
    if isinstance(exc, anthropic.APIResponseValidationError):
        return ProviderError(ProviderCode.RESPONSE_INVALID, str(exc), retryable=True)
    if not isinstance(exc, anthropic.APIStatusError):
        return ProviderError(ProviderCode.FAILED, str(exc), retryable=False)
    message = exc.api_message or str(exc)
    if isinstance(exc, anthropic.RateLimitError):
        return ProviderError(
            ProviderCode.RATE_LIMITED, message, retryable=True, retry_after=_retry_after(exc.response.headers)
        )
    if isinstance(exc, anthropic.AuthenticationError | anthropic.PermissionDeniedError):
        return ProviderError(ProviderCode.CREDENTIAL_REFUSED, message, retryable=False)
    if exc.status_code >= 500:  # InternalServerError and its kin, OverloadedError (529) among them
        return ProviderError(ProviderCode.UNAVAILABLE, message, retryable=True)
    if isinstance(exc, anthropic.BadRequestError) and CONTEXT_TOO_LONG.search(message):
        return ProviderError(
            ProviderCode.FAILED, message, retryable=False, params={"reason": "context_too_long"}
        )
    return ProviderError(ProviderCode.FAILED, message, retryable=False)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from `retry-after-ms` or `retry-after` (a number; an HTTP date is left to the policy)."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            continue
        if seconds >= 0:
            return seconds
    return None


def _image_block(url: str) -> ImageBlockParam:
    """An image block: a URL source for http(s), a base64 source for a `data:` URL."""
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    match = DATA_URL.match(url)
    media_type = MEDIA_TYPES.get(match["media"].lower()) if match else None
    if match is None or media_type is None:
        msg = "an image must be an http(s) URL or a base64 data: URL of a JPEG, PNG, GIF or WebP"
        raise ProviderError(ProviderCode.FAILED, msg, retryable=False, params={"reason": "invalid_image"})
    data = match["data"].strip()
    try:
        b64decode(data, validate=True)
    except binascii.Error as exc:
        msg = "an image data: URL does not hold valid base64"
        raise ProviderError(
            ProviderCode.FAILED, msg, retryable=False, params={"reason": "invalid_image"}
        ) from exc
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def _answer_text(message: Message, request: ChatRequest) -> str:
    """The forced tool's input as JSON for a schema request, else the text blocks joined."""
    if request.json_schema is not None:
        for block in message.content:
            if block.type == "tool_use" and block.name == request.schema_name:
                return json.dumps(block.input)
        msg = f"the answer holds no call of the tool {request.schema_name!r} (stop: {message.stop_reason})"
        raise ProviderError(ProviderCode.RESPONSE_INVALID, msg, retryable=True)
    texts = [block.text for block in message.content if block.type == "text"]
    if not texts:
        msg = f"the answer holds no text (stop: {message.stop_reason})"
        raise ProviderError(ProviderCode.RESPONSE_INVALID, msg, retryable=True)
    return "".join(texts)


def _add(usage: TokenUsage, message: Message) -> TokenUsage:
    return TokenUsage(
        input_tokens=usage.input_tokens + message.usage.input_tokens,
        output_tokens=usage.output_tokens + message.usage.output_tokens,
        cached_input_tokens=usage.cached_input_tokens + (message.usage.cache_read_input_tokens or 0),
    )
