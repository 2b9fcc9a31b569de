"""`AnthropicChatProvider` driven through the real `anthropic` SDK against the fake Anthropic server on
loopback: what it sends, what it answers, and the typed error each provider failure becomes.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

import pytest
from pydantic import BaseModel

from tests.helpers.model_servers.anthropic_server import IMAGE_TOKENS
from tests.helpers.model_servers.model_server import Fault, ModelServer
from tests.helpers.model_servers.serving import serving
from tests.helpers.model_servers.tiny_png import solid_png
from worker.dev_server import HOST, free_port
from worker.providers.anthropic_provider import DEFAULT_MAX_TOKENS, AnthropicChatProvider
from worker.providers.chat import ChatRequest, ImagePart, ProviderCode, ProviderError

KEY = "sk-ant-test-key"  # a made-up key for the loopback test server
MESSAGES = "/v1/messages"


class Book(BaseModel):
    title: str
    pages: int
    tags: list[str]


@pytest.fixture
async def server() -> AsyncGenerator[ModelServer]:
    async with serving(ModelServer("anthropic", api_key=KEY)) as served:
        yield served


@pytest.fixture
async def provider(server: ModelServer) -> AsyncGenerator[AnthropicChatProvider]:
    async with aclosing(AnthropicChatProvider(KEY, server.base_url)) as chat_provider:
        yield chat_provider


def words(text: str) -> int:
    return len(text.split())


async def test_a_text_answer_carries_usage_and_the_server_got_the_request(
    server: ModelServer, provider: AnthropicChatProvider
) -> None:
    request = ChatRequest(
        model="test-model",
        user="Say hello please",
        system="Be brief.",
        temperature=0.2,
        extra={"metadata": {"user_id": "run-1"}},
    )
    answer = await provider.chat(request)
    assert answer.texts == (server.answer,)
    assert answer.model == "test-model"
    assert (answer.usage.input_tokens, answer.usage.output_tokens) == (2 + 3, words(server.answer))
    assert answer.usage.cached_input_tokens == 0
    [received] = server.requests()
    assert (received.path, received.status, received.api_key) == (MESSAGES, 200, KEY)
    assert received.body["system"] == "Be brief."
    assert received.body["max_tokens"] == DEFAULT_MAX_TOKENS
    assert received.body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Say hello please"}]}
    ]
    assert received.body["metadata"] == {"user_id": "run-1"}  # the deck's extra settings
    assert "temperature" not in received.body  # API 2026-10-21 refuses sampling parameters
    assert "tools" not in received.body


async def test_images_go_as_url_and_base64_blocks_before_the_text(
    server: ModelServer, provider: AnthropicChatProvider
) -> None:
    encoded = base64.b64encode(solid_png(2, 2)).decode()
    images = (ImagePart("https://images.example/cat.png"), ImagePart(f"data:image/png;base64,{encoded}"))
    answer = await provider.chat(ChatRequest(model="test-model", user="Describe both", images=images))
    assert answer.usage.input_tokens == 2 * IMAGE_TOKENS + 2
    [received] = server.requests()
    assert received.body["messages"][0]["content"] == [
        {"type": "image", "source": {"type": "url", "url": "https://images.example/cat.png"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": encoded}},
        {"type": "text", "text": "Describe both"},
    ]


@pytest.mark.parametrize(
    "url", ["ftp://images.example/a.png", "data:text/plain;base64,aGk=", "data:image/png;base64,@@"]
)
async def test_an_unusable_image_fails_before_any_call(
    server: ModelServer, provider: AnthropicChatProvider, url: str
) -> None:
    with pytest.raises(ProviderError) as caught:
        await provider.chat(ChatRequest(model="test-model", user="hi", images=(ImagePart(url),)))
    assert (caught.value.code, caught.value.retryable) == (ProviderCode.FAILED, False)
    assert caught.value.params == {"reason": "invalid_image"}
    assert server.requests() == []


async def test_structured_output_forces_the_schema_tool_and_answers_its_input_as_json(
    server: ModelServer, provider: AnthropicChatProvider
) -> None:
    schema = Book.model_json_schema()
    request = ChatRequest(
        model="test-model", user="A book", json_schema=schema, schema_name="book", max_tokens=300
    )
    answer = await provider.chat(request)
    [text] = answer.texts
    Book.model_validate_json(text)
    assert answer.usage.output_tokens == words(text)
    [received] = server.requests()
    assert received.body["tools"] == [{"name": "book", "input_schema": schema}]
    assert received.body["tool_choice"] == {"type": "tool", "name": "book"}
    assert received.body["max_tokens"] == 300


async def test_n_makes_one_call_per_answer_and_sums_the_usage(
    server: ModelServer, provider: AnthropicChatProvider
) -> None:
    server.script(Fault(text="first take here"))
    answer = await provider.chat(ChatRequest(model="test-model", user="Two takes please", n=2))
    assert answer.texts == ("first take here", server.answer)
    assert answer.usage.input_tokens == 2 * 3
    assert answer.usage.output_tokens == 3 + words(server.answer)
    assert [item.status for item in server.requests()] == [200, 200]


async def test_an_answer_without_the_tool_call_is_invalid_and_retryable(
    server: ModelServer, provider: AnthropicChatProvider
) -> None:
    server.script(Fault(text="I would rather chat."))
    with pytest.raises(ProviderError) as caught:
        await provider.chat(
            ChatRequest(model="test-model", user="A book", json_schema=Book.model_json_schema())
        )
    assert (caught.value.code, caught.value.retryable) == (ProviderCode.RESPONSE_INVALID, True)


@pytest.mark.parametrize(
    ("fault", "code", "retryable", "params"),
    [
        (Fault(status=401), ProviderCode.CREDENTIAL_REFUSED, False, {}),
        (Fault(status=403), ProviderCode.CREDENTIAL_REFUSED, False, {}),
        (
            Fault(status=400, message="prompt is too long: 250000 tokens > 200000 maximum"),
            ProviderCode.FAILED,
            False,
            {"reason": "context_too_long"},
        ),
        (Fault(status=400, message="messages: roles must alternate"), ProviderCode.FAILED, False, {}),
        (Fault(status=404), ProviderCode.FAILED, False, {}),
        (Fault(status=500), ProviderCode.UNAVAILABLE, True, {}),
        (Fault(status=529), ProviderCode.UNAVAILABLE, True, {}),
    ],
)
async def test_provider_errors_become_typed_errors_without_sdk_retries(
    server: ModelServer,
    provider: AnthropicChatProvider,
    fault: Fault,
    code: ProviderCode,
    retryable: bool,
    params: dict[str, Any],
) -> None:
    server.script(fault)
    with pytest.raises(ProviderError) as caught:
        await provider.chat(ChatRequest(model="test-model", user="hi"))
    error = caught.value
    assert (error.code, error.retryable, error.params, error.retry_after) == (code, retryable, params, None)
    assert fault.message is None or fault.message in error.message
    assert [item.status for item in server.requests()] == [fault.status]  # one call: Temporal retries


async def test_a_rate_limit_is_retryable_after_the_providers_delay(
    server: ModelServer, provider: AnthropicChatProvider
) -> None:
    server.script(Fault(status=429, retry_after=7))
    with pytest.raises(ProviderError) as caught:
        await provider.chat(ChatRequest(model="test-model", user="hi"))
    error = caught.value
    assert (error.code, error.retryable, error.retry_after) == (ProviderCode.RATE_LIMITED, True, 7.0)
    assert [item.status for item in server.requests()] == [429]


async def test_a_refused_key_is_not_retryable_and_never_shown(server: ModelServer) -> None:
    wrong = "sk-ant-wrong-secret-4242"
    async with aclosing(AnthropicChatProvider(wrong, server.base_url)) as provider:
        with pytest.raises(ProviderError) as caught:
            await provider.chat(ChatRequest(model="test-model", user="hi"))
    error = caught.value
    assert (error.code, error.retryable) == (ProviderCode.CREDENTIAL_REFUSED, False)
    assert wrong not in str(error)
    assert wrong not in json.dumps(error.params)
    assert [(item.api_key, item.status) for item in server.requests()] == [(wrong, 401)]


async def test_a_hanging_provider_times_out_retryably(
    server: ModelServer, provider: AnthropicChatProvider
) -> None:
    server.script(Fault(delay=30))
    with pytest.raises(ProviderError) as caught:
        await provider.chat(ChatRequest(model="test-model", user="hi", timeout_seconds=0.5))
    assert (caught.value.code, caught.value.retryable) == (ProviderCode.TIMEOUT, True)
    assert len(server.requests()) == 1


async def test_an_unreachable_provider_is_unavailable_and_retryable() -> None:
    async with aclosing(AnthropicChatProvider(KEY, f"http://{HOST}:{free_port()}")) as provider:
        with pytest.raises(ProviderError) as caught:
            await provider.chat(ChatRequest(model="test-model", user="hi"))
    assert (caught.value.code, caught.value.retryable) == (ProviderCode.UNAVAILABLE, True)
