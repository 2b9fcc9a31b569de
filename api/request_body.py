"""Request bodies: raw bytes to a JSON object to a typed request model (http-api.md §4.5, steps 2 and 3).

The body is JSON whatever its Content-Type, so it is parsed here rather than by FastAPI.
"""

from __future__ import annotations

import math
import re
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
# It also refuses an integer of more than 4300 digits (its own fixed limit, Python's default one for
# `int`), saying "number out of range at line L column C": valid JSON this service will not read.
_LONG_NUMBER = re.compile(r"number out of range at line (\d+) column (\d+)")
MAX_INTEGER_DIGITS = 4300
# jiter reads a number past the float range (`1e999`) as infinity, which JSON cannot hold and the run
# could not store: refused like the literal `Infinity`. Only a body with a 3-digit exponent can hold
# one, so only such a body is walked.
_LARGE_EXPONENT = re.compile(rb"[eE][+-]?\d{3}")


async def read_json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object; 422 `request.malformed` or `request.invalid` (field `body`) otherwise."""
    body = await request.body()
    try:
        # jiter, not `json`: no RecursionError on deep nesting, and lone surrogates are refused
        # instead of becoming strings that cannot be encoded back to UTF-8.
        data: object = pydantic_core.from_json(body, allow_inf_nan=False)
    except ValueError as exc:
        raise _unreadable(str(exc)) from exc
    if _LARGE_EXPONENT.search(body) and _holds_infinity(data):
        raise ProblemError(
            ProblemCode.REQUEST_MALFORMED,
            "A number in the request body is beyond the range of a 64-bit float (such as 1e999).",
            params={"reason": "number_out_of_range"},
        )
    if not isinstance(data, dict):
        raise request_invalid(field="body", reason=f"the body must be a JSON object, not {_json_kind(data)}.")
    return cast(dict[str, Any], data)


def _holds_infinity(data: object) -> bool:
    """Whether a float anywhere in the parsed body is infinite (iterative: bodies nest 200 levels)."""
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, float) and math.isinf(value):
            return True
        if isinstance(value, dict):
            pending.extend(cast(dict[str, Any], value).values())
        elif isinstance(value, list):
            pending.extend(cast(list[Any], value))
    return False


def _unreadable(message: str) -> ProblemError:
    """422 `request.malformed` for a body the parser refused, with the reason its `message` gives."""
    long_number = _LONG_NUMBER.search(message)
    if long_number is not None:
        line, column = int(long_number.group(1)), int(long_number.group(2))
        return ProblemError(
            ProblemCode.REQUEST_MALFORMED,
            f"A number in the request body (line {line}, column {column}) has more than "
            f"{MAX_INTEGER_DIGITS} digits, more than this service reads.",
            params={"reason": "number_too_long", "limit": MAX_INTEGER_DIGITS, "line": line, "column": column},
        )
    if _TOO_DEEP_MARKER in message:
        return ProblemError(
            ProblemCode.REQUEST_MALFORMED,
            "The request body nests JSON deeper than this service reads.",
            params={"reason": "too_deep"},
        )
    return ProblemError(
        ProblemCode.REQUEST_MALFORMED,
        "The request body is not a UTF-8 JSON document.",
        params={"reason": "not_json"},
    )


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
