"""Request bodies: raw bytes to a JSON object to a typed request model (http-api.md §4.5, steps 2 and 3).

The body is JSON whatever its Content-Type, so it is parsed here rather than by FastAPI.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

import pydantic_core
from fastapi import Request
from pydantic import BaseModel, ValidationError

from api.problems import ProblemError, request_invalid
from shared.problems.catalogue import ProblemCode

RequestModel = TypeVar("RequestModel", bound=BaseModel)

# The JSON parser (jiter) stops at 200 levels of nesting and says so in its message; that is a
# structural refusal of a body we will not read, distinct from text that is not JSON at all.
_TOO_DEEP_MARKER = "recursion limit"


async def read_json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object; 422 `request.malformed` or `request.invalid` (field `body`) otherwise."""
    body = await request.body()
    try:
        # jiter, not `json`: no RecursionError on deep nesting, and lone surrogates are refused
        # instead of becoming strings that cannot be encoded back to UTF-8.
        data: object = pydantic_core.from_json(body, allow_inf_nan=False)
    except ValueError as exc:
        too_deep = _TOO_DEEP_MARKER in str(exc)
        detail = (
            "The request body nests JSON deeper than this service reads."
            if too_deep
            else "The request body is not a UTF-8 JSON document."
        )
        raise ProblemError(
            ProblemCode.REQUEST_MALFORMED, detail, params={"reason": "too_deep" if too_deep else "not_json"}
        ) from exc
    if not isinstance(data, dict):
        raise request_invalid(field="body", reason=f"the body must be a JSON object, not {_json_kind(data)}.")
    return cast(dict[str, Any], data)


def parse_request(model: type[RequestModel], data: dict[str, Any]) -> RequestModel:
    """`data` as `model`; 422 `request.invalid` naming the first bad field, in the model's field order."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "body"
        raise request_invalid(field=field, reason=f"{first['msg'].lower()}.") from exc


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"
