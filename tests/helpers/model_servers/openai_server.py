"""The OpenAI-compatible HTTP API of a `ModelServer`: chat completions (text, JSON schema, JSON mode, `n`
choices, web search), image generation (base64 or URL of a real PNG) and the model list, with OpenAI's
error shape.

A chat completion asking for `web_search_options` is answered as a search model answers: the text ends
with one inline citation per source of `SEARCH_SOURCES`, each covered by a `url_citation` annotation
(OpenAI's shape), and the completion carries Perplexity's top-level `citations` (the same URLs) and
`search_results` (the first source, with a snippet) too, so a client reading both dialects must merge them.
A scripted `Fault(text=...)` answer is sent as is, without annotations.

`GET /files/{width}x{height}/{name}.png` serves the images answered by URL; it is neither logged nor
scripted, like the storage links the real API hands out.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any, cast

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.helpers.model_servers.model_server import ModelServer, Received, count_tokens
from tests.helpers.model_servers.schema_instance import minimal_instance
from tests.helpers.model_servers.tiny_png import solid_png

IMAGE_TOKENS = 85  # what one image part counts for in the prompt, as OpenAI's low-detail rate
ERROR_TYPES = {401: "invalid_request_error", 403: "permission_error", 429: "requests"}
ERROR_CODES = {401: "invalid_api_key", 429: "rate_limit_exceeded"}
DEFAULT_IMAGE_SIZE = "1024x1024"
# The sources every search answer cites: (url, title).
SEARCH_SOURCES = (
    ("https://example.org/search/first", "First source"),
    ("https://example.org/search/second", "Second source"),
)
SEARCH_SNIPPET = "A snippet of the first source."


def openai_error(status: int, message: str, code: str | None) -> dict[str, Any]:
    """OpenAI's error body: `{"error": {"message", "type", "param", "code"}}`."""
    kind = ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {
        "error": {"message": message, "type": kind, "param": None, "code": code or ERROR_CODES.get(status)}
    }


def openai_app(server: ModelServer) -> FastAPI:
    """The app answering the OpenAI SDK for `server`."""
    app = FastAPI(title="Test OpenAI-compatible server", openapi_url=None)

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        """Answer a chat completion."""
        received = await server.intake(request)
        refusal = await server.refusal(request, received, openai_error)
        if refusal is not None:
            return refusal
        body = received.body
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not body.get("model"):
            return _bad_request(received, "'model' and a non-empty 'messages' are required.")
        if body.get("stream"):
            return _bad_request(received, "the test server does not stream; call without `stream`.")
        searching = "web_search_options" in body
        uncited: list[dict[str, Any]] = []
        answers = [
            _cited(content) if searching and not _scripted(received) else (content, uncited)
            for content in (_content(server, received, index) for index in range(int(body.get("n") or 1)))
        ]
        prompt_tokens = sum(_message_tokens(message) for message in cast("list[Any]", messages))
        completion_tokens = sum(count_tokens(content) for content, _ in answers)
        return JSONResponse(
            {
                "id": f"chatcmpl-test-{len(server.received)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": index,
                        "message": {
                            "role": "assistant",
                            "content": content,
                            "refusal": None,
                            **({"annotations": annotations} if searching else {}),
                        },
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                    for index, (content, annotations) in enumerate(answers)
                ],
                **(_search_extras() if searching else {}),
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                    "prompt_tokens_details": {"cached_tokens": 0},
                    "completion_tokens_details": {"reasoning_tokens": 0},
                },
            },
            headers={"x-request-id": f"req_test_{len(server.received)}"},
        )

    @app.post("/v1/images/generations")
    async def image_generations(request: Request) -> Response:
        """Answer an image generation with real PNGs of the asked size."""
        received = await server.intake(request)
        refusal = await server.refusal(request, received, openai_error)
        if refusal is not None:
            return refusal
        body = received.body
        size = str(body.get("size") or DEFAULT_IMAGE_SIZE)
        size = DEFAULT_IMAGE_SIZE if size == "auto" else size
        width, _, height = size.partition("x")
        if not isinstance(body.get("prompt"), str) or not (width.isdigit() and height.isdigit()):
            return _bad_request(received, "a string 'prompt' and a 'size' like '1024x1024' are required.")
        count = int(body.get("n") or 1)
        if received.fault is not None and received.fault.text is not None:  # a scripted broken answer
            data = [{"b64_json": received.fault.text} for _ in range(count)]
        elif body.get("response_format") == "url":
            data = [{"url": f"{server.url}/files/{size}/image-{index}.png"} for index in range(count)]
        else:
            encoded = base64.b64encode(solid_png(int(width), int(height))).decode()
            data = [{"b64_json": encoded} for _ in range(count)]
        prompt_tokens = count_tokens(body["prompt"])
        return JSONResponse(
            {
                "created": int(time.time()),
                "data": [{**item, "revised_prompt": body["prompt"]} for item in data],
                "output_format": "png",
                "size": size,
                "usage": {
                    "input_tokens": prompt_tokens,
                    "input_tokens_details": {"text_tokens": prompt_tokens, "image_tokens": 0},
                    "output_tokens": 100 * count,
                    "total_tokens": prompt_tokens + 100 * count,
                },
            }
        )

    @app.get("/files/{width}x{height}/{name}.png")
    async def image_file(width: int, height: int, name: str) -> Response:  # noqa: ARG001 -- the name only makes URLs distinct
        """Serve an image answered by URL."""
        return Response(solid_png(width, height), media_type="image/png")

    @app.get("/v1/models")
    async def models(request: Request) -> Response:
        """List the server's models."""
        received = await server.intake(request)
        refusal = await server.refusal(request, received, openai_error)
        if refusal is not None:
            return refusal
        listed = [{"id": name, "object": "model", "created": 0, "owned_by": "test"} for name in server.models]
        return JSONResponse({"object": "list", "data": listed})

    return app


def _content(server: ModelServer, received: Received, index: int) -> str:
    """Choice `index`'s answer: the fault's text, a JSON answer for the response format, or plain text."""
    if received.fault is not None and received.fault.text is not None:
        return received.fault.text
    response_format = cast("dict[str, Any]", received.body.get("response_format") or {})
    if response_format.get("type") == "json_schema":
        return json.dumps(minimal_instance(response_format.get("json_schema", {}).get("schema", {})))
    if response_format.get("type") == "json_object":
        return json.dumps({"answer": server.answer})
    answer = server.answer_of(received.body) if server.answer_of is not None else server.answer
    return answer if index == 0 else f"{answer} ({index + 1})"


def _scripted(received: Received) -> bool:
    return received.fault is not None and received.fault.text is not None


def _cited(text: str) -> tuple[str, list[dict[str, Any]]]:
    """`text` with an inline citation per search source appended, and their `url_citation` annotations."""
    annotations: list[dict[str, Any]] = []
    for url, title in SEARCH_SOURCES:
        citation = f" ([{title}]({url}))"
        start = len(text) + 1  # the annotation covers the parenthesis, not the space before it
        text += citation
        annotations.append(
            {
                "type": "url_citation",
                "url_citation": {"url": url, "title": title, "start_index": start, "end_index": len(text)},
            }
        )
    return text, annotations


def _search_extras() -> dict[str, Any]:
    """Perplexity's top-level fields: the cited URLs, and search results with snippets."""
    first_url, first_title = SEARCH_SOURCES[0]
    return {
        "citations": [url for url, _ in SEARCH_SOURCES],
        "search_results": [
            {"url": first_url, "title": first_title, "snippet": SEARCH_SNIPPET, "date": "2024-01-01"}
        ],
    }


def _message_tokens(message: Any) -> int:
    content: Any = cast("dict[str, Any]", message).get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return count_tokens(content)
    parts = cast("list[dict[str, Any]]", content if isinstance(content, list) else [])
    text = " ".join(str(part.get("text", "")) for part in parts if part.get("type") == "text")
    images = sum(1 for part in parts if part.get("type") == "image_url")
    return count_tokens(text) + IMAGE_TOKENS * images


def _bad_request(received: Received, message: str) -> JSONResponse:
    received.status = 400
    return JSONResponse(openai_error(400, message, None), status_code=400)
