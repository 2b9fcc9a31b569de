"""The test model servers (tests/helpers/model_servers) driven by the real `openai` and `anthropic` SDKs
over loopback HTTP: answers, structured output, images, scripted faults and the request log.

Later provider tests rely on these behaviours, so they are pinned here against the SDKs themselves.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any, Literal

import anthropic
import httpx
import openai
import pytest
from PIL import Image
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from tests.helpers.model_servers.model_server import Fault, ModelServer
from tests.helpers.model_servers.schema_instance import minimal_instance
from tests.helpers.model_servers.serving import serving
from tests.helpers.model_servers.tiny_png import png_size

KEY = "sk-test-key"  # a made-up key for loopback test servers
CHAT = "/v1/chat/completions"
IMAGES = "/v1/images/generations"
MESSAGES = "/v1/messages"


class Author(BaseModel):
    name: str
    email: str | None


class Chapter(BaseModel):
    title: str
    pages: int
    rating: float
    kind: Literal["prose", "verse"]


class Book(BaseModel):
    """Nested models, a list, an enum and an optional field: `$defs`/`$ref` and `anyOf` in the schema."""

    author: Author
    chapters: list[Chapter]
    published: bool
    subtitle: str | None


@pytest.fixture
async def openai_server() -> AsyncGenerator[ModelServer]:
    async with serving(ModelServer("openai")) as server:
        yield server


@pytest.fixture
async def anthropic_server() -> AsyncGenerator[ModelServer]:
    async with serving(ModelServer("anthropic")) as server:
        yield server


def openai_client(server: ModelServer, **options: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.base_url, api_key=KEY, **options)


def anthropic_client(server: ModelServer, **options: Any) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=server.base_url, api_key=KEY, **options)


# --- OpenAI-compatible -------------------------------------------------------------------------------


async def test_a_chat_completion_answers_text_with_usage_and_is_logged(openai_server: ModelServer) -> None:
    async with openai_client(openai_server) as client:
        completion = await client.chat.completions.create(
            model="test-model",
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "Say hello please"}]},
            ],
        )
    assert completion.model == "test-model"
    assert [choice.message.content for choice in completion.choices] == [openai_server.answer]
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 2 + 3
    assert completion.usage.completion_tokens == len(openai_server.answer.split())
    assert (
        completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    )
    [received] = openai_server.requests()
    assert (received.method, received.path, received.status) == ("POST", CHAT, 200)
    assert received.api_key == KEY
    assert received.headers["authorization"] == f"Bearer {KEY}"
    assert received.body["model"] == "test-model"
    assert received.body["messages"][0] == {"role": "system", "content": "Be brief."}


async def test_structured_output_is_valid_for_the_schema_the_sdk_sent(openai_server: ModelServer) -> None:
    async with openai_client(openai_server) as client:
        completion = await client.chat.completions.parse(
            model="test-model", messages=[{"role": "user", "content": "A book"}], response_format=Book
        )
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, Book)
    assert len(parsed.chapters) == 1
    assert parsed.chapters[0].kind == "prose"
    content = completion.choices[0].message.content
    assert content is not None
    assert Book.model_validate_json(content) == parsed
    response_format = openai_server.requests(CHAT)[0].body["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["strict"] is True
    assert "$defs" in response_format["json_schema"]["schema"]


async def test_json_mode_answers_a_json_object(openai_server: ModelServer) -> None:
    async with openai_client(openai_server) as client:
        completion = await client.chat.completions.create(
            model="test-model",
            messages=[{"role": "user", "content": "JSON please"}],
            response_format={"type": "json_object"},
        )
    content = completion.choices[0].message.content
    assert content is not None
    assert json.loads(content) == {"answer": openai_server.answer}


async def test_n_gives_as_many_distinct_choices(openai_server: ModelServer) -> None:
    async with openai_client(openai_server) as client:
        completion = await client.chat.completions.create(
            model="test-model", messages=[{"role": "user", "content": "Two takes"}], n=2
        )
    contents = [choice.message.content for choice in completion.choices]
    assert [choice.index for choice in completion.choices] == [0, 1]
    assert len(set(contents)) == 2
    assert contents[0] == openai_server.answer


async def test_a_not_json_answer_fails_the_sdk_parse_once_then_answers_valid_json(
    openai_server: ModelServer,
) -> None:
    openai_server.script(Fault(text="not json"))
    messages: Any = [{"role": "user", "content": "A book"}]
    async with openai_client(openai_server) as client:
        with pytest.raises(ValidationError):
            await client.chat.completions.parse(model="test-model", messages=messages, response_format=Book)
        completion = await client.chat.completions.parse(
            model="test-model", messages=messages, response_format=Book
        )
    assert isinstance(completion.choices[0].message.parsed, Book)
    assert [item.fault is not None for item in openai_server.requests()] == [True, False]


async def test_image_generation_answers_a_real_png_as_base64_or_url(openai_server: ModelServer) -> None:
    async with openai_client(openai_server) as client:
        encoded = await client.images.generate(
            model="test-image-model", prompt="a blue square", size="256x256", n=2
        )
        linked = await client.images.generate(
            model="test-image-model", prompt="a blue square", size="512x512", response_format="url"
        )
    assert encoded.data is not None
    assert len(encoded.data) == 2
    assert encoded.data[0].b64_json is not None
    png = base64.b64decode(encoded.data[0].b64_json)
    assert png_size(png) == (256, 256)
    with Image.open(io.BytesIO(png)) as image:
        image.load()
        assert (image.format, image.size) == ("PNG", (256, 256))
    assert encoded.usage is not None
    assert encoded.usage.input_tokens == 3
    assert linked.data is not None
    assert linked.data[0].url is not None
    assert linked.data[0].url.startswith(openai_server.url)
    async with httpx.AsyncClient() as http:
        fetched = await http.get(linked.data[0].url)
    assert fetched.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(fetched.content)) as image:
        image.load()
        assert image.size == (512, 512)
    assert [item.path for item in openai_server.requests()] == [IMAGES, IMAGES]  # file fetches are not logged


async def test_models_are_listed(openai_server: ModelServer) -> None:
    async with openai_client(openai_server) as client:
        listed = [model.id async for model in client.models.list()]
    assert listed == openai_server.models


async def test_a_rate_limit_carries_retry_after_and_the_sdk_honours_it(openai_server: ModelServer) -> None:
    openai_server.script(Fault(status=429, retry_after=1))
    async with openai_client(openai_server, max_retries=0) as client:
        with pytest.raises(openai.RateLimitError) as caught:
            await client.chat.completions.create(
                model="test-model", messages=[{"role": "user", "content": "hi"}]
            )
    assert caught.value.response.headers["retry-after"] == "1"
    assert caught.value.code == "rate_limit_exceeded"
    openai_server.script(Fault(status=429, retry_after=1))
    async with openai_client(openai_server, max_retries=1) as client:
        completion = await client.chat.completions.create(
            model="test-model", messages=[{"role": "user", "content": "hi"}]
        )
    assert completion.choices[0].message.content == openai_server.answer
    first, retried = openai_server.requests()[1:]
    assert (first.status, retried.status) == (429, 200)
    assert (first.retry_count, retried.retry_count) == (0, 1)
    # A lower bound only (a busy machine makes it longer): the SDK's own first backoff is at most 0.5 s,
    # so a gap of a second shows it waited as Retry-After said.
    assert retried.at - first.at >= 0.95


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, openai.AuthenticationError),
        (500, openai.InternalServerError),
        (400, openai.BadRequestError),
    ],
)
async def test_scripted_errors_become_the_sdk_typed_errors(
    openai_server: ModelServer, status: int, error: type[openai.APIStatusError]
) -> None:
    code = "context_length_exceeded" if status == 400 else None
    openai_server.script(Fault(status=status, message="Scripted trouble.", code=code))
    async with openai_client(openai_server, max_retries=0) as client:
        with pytest.raises(error) as caught:
            await client.chat.completions.create(
                model="test-model", messages=[{"role": "user", "content": "hi"}]
            )
    assert caught.value.status_code == status
    assert caught.value.message.endswith("Scripted trouble.")  # the SDK prefixes the status
    assert caught.value.code == code or status != 400
    assert [item.status for item in openai_server.requests()] == [status]


async def test_a_wrong_key_is_refused_without_using_up_a_fault() -> None:
    server = ModelServer("openai", api_key=KEY, faults=[Fault(text="scripted")])
    async with serving(server), openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-wrong") as wrong:
        with pytest.raises(openai.AuthenticationError) as caught:
            await wrong.models.list()
        assert caught.value.code == "invalid_api_key"
        assert server.pending_faults == [Fault(text="scripted")]
        async with openai_client(server) as right:
            completion = await right.chat.completions.create(
                model="test-model", messages=[{"role": "user", "content": "hi"}]
            )
    assert completion.choices[0].message.content == "scripted"
    assert server.pending_faults == []
    assert [(item.api_key, item.status) for item in server.requests()] == [("sk-wrong", 401), (KEY, 200)]


async def test_a_slow_answer_times_the_sdk_out_and_the_server_keeps_answering(
    openai_server: ModelServer,
) -> None:
    openai_server.script(Fault(delay=30))
    async with openai_client(openai_server, max_retries=0, timeout=0.5) as client:
        with pytest.raises(openai.APITimeoutError):
            await client.chat.completions.create(
                model="test-model", messages=[{"role": "user", "content": "hi"}]
            )
        completion = await client.chat.completions.create(
            model="test-model", messages=[{"role": "user", "content": "again"}]
        )
    assert completion.choices[0].message.content == openai_server.answer
    assert [item.fault is not None for item in openai_server.requests()] == [True, False]


async def test_a_fault_targets_its_path_for_its_number_of_requests(openai_server: ModelServer) -> None:
    openai_server.script(Fault(status=503, path=IMAGES, times=2), Fault(text="second script item"))
    async with openai_client(openai_server, max_retries=0) as client:
        chat = await client.chat.completions.create(
            model="test-model", messages=[{"role": "user", "content": "hi"}]
        )
        for _ in range(2):
            with pytest.raises(openai.InternalServerError):
                await client.images.generate(model="test-image-model", prompt="p", size="256x256")
        image = await client.images.generate(model="test-image-model", prompt="p", size="256x256")
    assert chat.choices[0].message.content == "second script item"  # the image fault did not match
    assert image.data is not None
    assert [(item.path, item.status) for item in openai_server.requests()] == [
        (CHAT, 200),
        (IMAGES, 503),
        (IMAGES, 503),
        (IMAGES, 200),
    ]


async def test_streaming_is_refused_plainly(
    openai_server: ModelServer, anthropic_server: ModelServer
) -> None:
    messages: Any = [{"role": "user", "content": "hi"}]
    async with openai_client(openai_server, max_retries=0) as client:
        with pytest.raises(openai.BadRequestError, match="does not stream"):
            await client.chat.completions.create(model="test-model", messages=messages, stream=True)
    async with anthropic_client(anthropic_server, max_retries=0) as client:
        with pytest.raises(anthropic.BadRequestError, match="does not stream"):
            await client.messages.create(model="test-model", max_tokens=10, messages=messages, stream=True)
    assert [item.status for item in openai_server.requests() + anthropic_server.requests()] == [400, 400]


# --- Anthropic ---------------------------------------------------------------------------------------


async def test_an_anthropic_message_answers_text_with_usage_and_is_logged(
    anthropic_server: ModelServer,
) -> None:
    async with anthropic_client(anthropic_server) as client:
        message = await client.messages.create(
            model="test-model",
            max_tokens=100,
            system="Be brief.",
            messages=[{"role": "user", "content": "Say hello please"}],
        )
    assert message.model == "test-model"
    assert message.stop_reason == "end_turn"
    assert [block.text for block in message.content if block.type == "text"] == [anthropic_server.answer]
    assert message.usage.input_tokens == 2 + 3
    assert message.usage.output_tokens == len(anthropic_server.answer.split())
    [received] = anthropic_server.requests()
    assert (received.path, received.status) == (MESSAGES, 200)
    assert received.api_key == KEY  # this SDK sends it as a bearer token; older ones as `x-api-key`
    assert "anthropic-version" in received.headers
    assert received.body["max_tokens"] == 100


async def test_anthropic_structured_output_by_format_and_by_forced_tool(
    anthropic_server: ModelServer,
) -> None:
    async with anthropic_client(anthropic_server) as client:
        parsed = await client.messages.parse(
            model="test-model",
            max_tokens=100,
            messages=[{"role": "user", "content": "A book"}],
            output_format=Book,
        )
        called = await client.messages.create(
            model="test-model",
            max_tokens=100,
            messages=[{"role": "user", "content": "A book"}],
            tools=[
                {"name": "record_book", "description": "Record it.", "input_schema": Book.model_json_schema()}
            ],
            tool_choice={"type": "tool", "name": "record_book"},
        )
    assert isinstance(parsed.parsed_output, Book)
    assert called.stop_reason == "tool_use"
    [block] = called.content
    assert block.type == "tool_use"
    assert block.name == "record_book"
    Book.model_validate(block.input)


async def test_an_anthropic_rate_limit_carries_retry_after_and_the_sdk_honours_it(
    anthropic_server: ModelServer,
) -> None:
    anthropic_server.script(Fault(status=429, retry_after=1), Fault(status=429, retry_after=1))
    messages: Any = [{"role": "user", "content": "hi"}]
    async with anthropic_client(anthropic_server, max_retries=0) as client:
        with pytest.raises(anthropic.RateLimitError) as caught:
            await client.messages.create(model="test-model", max_tokens=10, messages=messages)
    assert caught.value.response.headers["retry-after"] == "1"
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "Scripted error 429."},
    }
    async with anthropic_client(anthropic_server, max_retries=1) as client:
        message = await client.messages.create(model="test-model", max_tokens=10, messages=messages)
    assert message.content[0].type == "text"
    first, retried = anthropic_server.requests()[1:]
    assert (first.status, retried.status, retried.retry_count) == (429, 200, 1)
    assert retried.at - first.at >= 0.95  # a lower bound only, see the OpenAI test


@pytest.mark.parametrize(
    ("status", "error", "kind"),
    [
        (401, anthropic.AuthenticationError, "authentication_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (529, anthropic.OverloadedError, "overloaded_error"),
    ],
)
async def test_anthropic_scripted_errors_become_the_sdk_typed_errors(
    anthropic_server: ModelServer, status: int, error: type[anthropic.APIStatusError], kind: str
) -> None:
    anthropic_server.script(Fault(status=status))
    async with anthropic_client(anthropic_server, max_retries=0) as client:
        with pytest.raises(error) as caught:
            await client.messages.create(
                model="test-model", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
            )
    assert caught.value.status_code == status
    assert caught.value.body == {
        "type": "error",
        "error": {"type": kind, "message": f"Scripted error {status}."},
    }


async def test_a_slow_anthropic_answer_times_the_sdk_out(anthropic_server: ModelServer) -> None:
    anthropic_server.script(Fault(delay=30, path=MESSAGES))
    async with anthropic_client(anthropic_server, max_retries=0, timeout=0.5) as client:
        with pytest.raises(anthropic.APITimeoutError):
            await client.messages.create(
                model="test-model", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
            )
    assert [item.path for item in anthropic_server.requests()] == [MESSAGES]


# --- the schema instances themselves -----------------------------------------------------------------


class Constrained(BaseModel):
    code: str = Field(min_length=12, max_length=20)
    count: int = Field(ge=3, le=9)
    share: float = Field(gt=0.5)
    tags: list[str] = Field(min_length=2)
    when: datetime
    fixed: Literal["only"]
    anything: int | str | None


@pytest.mark.parametrize("model", [Book, Chapter, Constrained])
def test_the_minimal_instance_is_valid_for_pydantic_schemas(model: type[BaseModel]) -> None:
    model.model_validate(minimal_instance(model.model_json_schema()))


def test_the_minimal_instance_honours_list_and_ref_schemas() -> None:
    schema = TypeAdapter(list[Chapter]).json_schema()
    instance = minimal_instance(schema)
    assert TypeAdapter(list[Chapter]).validate_python(instance) == [
        Chapter(title="text", pages=0, rating=0, kind="prose")
    ]
