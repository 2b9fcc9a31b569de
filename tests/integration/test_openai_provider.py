"""`OpenAIChatProvider` through the real `openai` SDK against the fake OpenAI-compatible server on loopback:
what it sends, what it answers, and how each provider failure becomes a typed `ProviderError`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator

import pytest

from tests.helpers.model_servers.model_server import Fault, ModelServer
from tests.helpers.model_servers.serving import serving
from worker.dev_server import HOST, free_port
from worker.providers.chat import ChatRequest, ImagePart, ProviderCode, ProviderError
from worker.providers.openai_provider import OpenAIChatProvider

KEY = "sk-test-openai-provider-key"  # a made-up key for the loopback test server
CHAT = "/v1/chat/completions"
IMAGE_URL = "data:image/png;base64,iVBORw0KGgo="


@pytest.fixture
async def server() -> AsyncGenerator[ModelServer]:
    async with serving(ModelServer("openai", api_key=KEY)) as model_server:
        yield model_server


@pytest.fixture
async def provider(server: ModelServer) -> AsyncGenerator[OpenAIChatProvider]:
    async with OpenAIChatProvider(KEY, server.base_url) as chat_provider:
        yield chat_provider


async def failure(provider: OpenAIChatProvider, request: ChatRequest | None = None) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await provider.chat(request or ChatRequest(model="test-model", user="Hi there"))
    assert KEY not in str(caught.value)
    return caught.value


async def test_a_text_answer_carries_usage_and_sends_the_messages(
    server: ModelServer, provider: OpenAIChatProvider
) -> None:
    answer = await provider.chat(
        ChatRequest(
            model="test-model",
            system="Be brief.",
            user="Say hello please",
            temperature=0.2,
            max_tokens=50,
            extra={"seed": 7},
        )
    )
    assert answer.texts == (server.answer,)
    assert answer.model == "test-model"
    assert answer.usage.input_tokens == 2 + 3
    assert answer.usage.output_tokens == len(server.answer.split())
    assert answer.usage.cached_input_tokens == 0
    [received] = server.requests(CHAT)
    assert received.headers["authorization"] == f"Bearer {KEY}"
    assert received.body["model"] == "test-model"
    assert received.body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say hello please"},
    ]
    assert received.body["temperature"] == 0.2
    assert received.body["max_completion_tokens"] == 50
    assert received.body["seed"] == 7
    assert "n" not in received.body
    assert "response_format" not in received.body


async def test_images_are_sent_as_image_url_parts(server: ModelServer, provider: OpenAIChatProvider) -> None:
    answer = await provider.chat(
        ChatRequest(model="test-model", user="Describe this", images=(ImagePart(IMAGE_URL),))
    )
    assert answer.texts == (server.answer,)
    assert answer.usage.input_tokens == 2 + 85  # the fake server counts 85 tokens per image part
    [received] = server.requests(CHAT)
    assert received.body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Describe this"},
                {"type": "image_url", "image_url": {"url": IMAGE_URL}},
            ],
        }
    ]


async def test_a_json_schema_is_sent_as_response_format_and_answered_as_json(
    server: ModelServer, provider: OpenAIChatProvider
) -> None:
    schema = {
        "type": "object",
        "properties": {"title": {"type": "string"}, "pages": {"type": "integer"}},
        "required": ["title", "pages"],
    }
    answer = await provider.chat(
        ChatRequest(model="test-model", user="A book", json_schema=schema, schema_name="book")
    )
    [received] = server.requests(CHAT)
    assert received.body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "book", "schema": schema, "strict": False},
    }
    [text] = answer.texts
    parsed = json.loads(text)
    assert set(parsed) == {"title", "pages"}
    assert isinstance(parsed["pages"], int)


async def test_n_answers_one_text_per_choice(server: ModelServer, provider: OpenAIChatProvider) -> None:
    answer = await provider.chat(ChatRequest(model="test-model", user="Two takes", n=2))
    assert answer.texts == (server.answer, f"{server.answer} (2)")
    assert server.requests(CHAT)[0].body["n"] == 2


async def test_a_rate_limit_is_retryable_with_the_retry_after_seconds(
    server: ModelServer, provider: OpenAIChatProvider
) -> None:
    server.script(Fault(status=429, retry_after=2))
    error = await failure(provider)
    assert error.code is ProviderCode.RATE_LIMITED
    assert error.retryable is True
    assert error.retry_after == 2.0
    assert len(server.requests(CHAT)) == 1  # the SDK did not retry: Temporal does


async def test_a_refused_key_is_not_retryable_and_not_repeated(server: ModelServer) -> None:
    async with OpenAIChatProvider("sk-wrong-key", server.base_url) as provider:
        with pytest.raises(ProviderError) as caught:
            await provider.chat(ChatRequest(model="test-model", user="Hi"))
    assert caught.value.code is ProviderCode.CREDENTIAL_REFUSED
    assert caught.value.retryable is False
    assert caught.value.params["status"] == 401
    assert len(server.requests(CHAT)) == 1


async def test_a_key_echoed_by_the_server_is_redacted(
    server: ModelServer, provider: OpenAIChatProvider
) -> None:
    server.script(Fault(status=403, message=f"Key {KEY} may not use this model."))
    error = await failure(provider)  # asserts the key is nowhere in the error
    assert error.code is ProviderCode.CREDENTIAL_REFUSED
    assert error.retryable is False
    assert "may not use this model" in error.message


async def test_a_context_too_long_fails_without_retry(
    server: ModelServer, provider: OpenAIChatProvider
) -> None:
    server.script(
        Fault(
            status=400,
            code="context_length_exceeded",
            message="This model's maximum context length is 8192 tokens.",
        )
    )
    error = await failure(provider)
    assert error.code is ProviderCode.FAILED
    assert error.retryable is False
    assert error.params["reason"] == "context_too_long"


async def test_another_bad_request_fails_without_retry_or_reason(
    server: ModelServer, provider: OpenAIChatProvider
) -> None:
    server.script(Fault(status=400, message="Unknown parameter."))
    error = await failure(provider)
    assert error.code is ProviderCode.FAILED
    assert error.retryable is False
    assert "reason" not in error.params


async def test_a_server_error_is_unavailable_and_retryable(
    server: ModelServer, provider: OpenAIChatProvider
) -> None:
    server.script(Fault(status=500))
    error = await failure(provider)
    assert error.code is ProviderCode.UNAVAILABLE
    assert error.retryable is True
    assert error.params["status"] == 500
    assert len(server.requests(CHAT)) == 1


async def test_an_answer_later_than_the_timeout_is_a_retryable_timeout(
    server: ModelServer, provider: OpenAIChatProvider
) -> None:
    server.script(Fault(delay=30))
    error = await failure(provider, ChatRequest(model="test-model", user="Slowly", timeout_seconds=0.5))
    assert error.code is ProviderCode.TIMEOUT
    assert error.retryable is True
    assert len(server.requests(CHAT)) == 1


async def test_a_refused_connection_is_unavailable_and_retryable() -> None:
    async with OpenAIChatProvider(KEY, f"http://{HOST}:{free_port()}/v1") as provider:
        error = await failure(provider)
    assert error.code is ProviderCode.UNAVAILABLE
    assert error.retryable is True
