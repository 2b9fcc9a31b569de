"""The Anthropic messages API of a `ModelServer`: text answers, structured output (native
`output_config.format` JSON schema, or a forced tool's `tool_use`), usage, and Anthropic's error shape.
"""

from __future__ import annotations

import json
from typing import Any, cast

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.helpers.model_servers.model_server import ModelServer, Received, count_tokens
from tests.helpers.model_servers.schema_instance import minimal_instance

IMAGE_TOKENS = 85  # what one image or document block counts for in the prompt
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def anthropic_error(status: int, message: str, code: str | None) -> dict[str, Any]:
    """Anthropic's error body: `{"type": "error", "error": {"type", "message"}}`; `code` overrides the type."""
    kind = code or ERROR_TYPES.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


def anthropic_app(server: ModelServer) -> FastAPI:
    """The app answering the Anthropic SDK for `server`."""
    app = FastAPI(title="Test Anthropic server", openapi_url=None)

    @app.post("/v1/messages")
    async def messages(request: Request) -> Response:
        """Answer a message."""
        received = await server.intake(request)
        refusal = await server.refusal(request, received, anthropic_error)
        if refusal is not None:
            return refusal
        body = received.body
        if not body.get("model") or not isinstance(body.get("max_tokens"), int) or not body.get("messages"):
            return _bad_request(received, "'model', 'max_tokens' and a non-empty 'messages' are required.")
        if body.get("stream"):
            return _bad_request(received, "the test server does not stream; call without `stream`.")
        content = _content(server, received)
        output_tokens = sum(
            count_tokens(block["text"])
            if block["type"] == "text"
            else count_tokens(json.dumps(block["input"]))
            for block in content
        )
        return JSONResponse(
            {
                "id": f"msg_test_{len(server.received)}",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": content,
                "stop_reason": "tool_use" if content[0]["type"] == "tool_use" else "end_turn",
                "stop_sequence": None,
                "usage": {
                    "input_tokens": _prompt_tokens(body),
                    "output_tokens": output_tokens,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                },
            },
            headers={"request-id": f"req_test_{len(server.received)}"},
        )

    @app.get("/v1/models")
    async def models(request: Request) -> Response:
        """List the server's models."""
        received = await server.intake(request)
        refusal = await server.refusal(request, received, anthropic_error)
        if refusal is not None:
            return refusal
        listed = [
            {"type": "model", "id": name, "display_name": name, "created_at": "2024-01-01T00:00:00Z"}
            for name in server.models
        ]
        return JSONResponse(
            {"data": listed, "has_more": False, "first_id": server.models[0], "last_id": server.models[-1]}
        )

    return app


def _content(server: ModelServer, received: Received) -> list[dict[str, Any]]:
    """The answer's blocks: the fault's text, JSON for a schema format, a forced tool's call, or text."""
    body = received.body
    if received.fault is not None and received.fault.text is not None:
        return [{"type": "text", "text": received.fault.text}]
    output_config = cast("dict[str, Any]", body.get("output_config") or {})
    output_format = cast("dict[str, Any]", output_config.get("format") or {})
    if output_format.get("type") == "json_schema":
        return [{"type": "text", "text": json.dumps(minimal_instance(output_format.get("schema", {})))}]
    tools = cast("list[dict[str, Any]]", body.get("tools") or [])
    choice = cast("dict[str, Any]", body.get("tool_choice") or {})
    if tools and choice.get("type") in ("tool", "any"):
        tool = next((item for item in tools if item.get("name") == choice.get("name")), tools[0])
        call = {"type": "tool_use", "id": f"toolu_test_{len(server.received)}", "name": tool["name"]}
        return [{**call, "input": minimal_instance(tool.get("input_schema", {}))}]
    return [{"type": "text", "text": server.answer}]


def _prompt_tokens(body: dict[str, Any]) -> int:
    system = body.get("system")
    blocks: list[Any] = [{"type": "text", "text": system}] if isinstance(system, str) else list(system or [])
    for message in cast("list[dict[str, Any]]", body["messages"]):
        content = message.get("content")
        blocks.extend([{"type": "text", "text": content}] if isinstance(content, str) else content or [])
    return sum(_block_tokens(block) for block in blocks)


def _block_tokens(block: Any) -> int:
    if not isinstance(block, dict):
        return 0
    block = cast("dict[str, Any]", block)
    if block.get("type") in ("image", "document"):
        return IMAGE_TOKENS
    if block.get("type") == "tool_result":
        inner: Any = block.get("content")
        if isinstance(inner, str):
            return count_tokens(inner)
        return sum(_block_tokens(item) for item in cast("list[Any]", inner or []))
    return count_tokens(str(block.get("text", "")))


def _bad_request(received: Received, message: str) -> JSONResponse:
    received.status = 400
    return JSONResponse(anthropic_error(400, message, None), status_code=400)
