"""The shapes the OpenAPI document gives the service's answers (api/openapi_doc.py completes it with them).

The problem document of every error (http-api.md §13.1), the run answers the routes build themselves
(§6, §9), and the offline example method the run and validate routes offer.
"""

from __future__ import annotations

from typing import Any

from api.problems import PROBLEM_MEDIA_TYPE
from shared.problems.catalogue import CATALOGUE
from shared.runs.run_states import RunState

Schema = dict[str, Any]

_STATUS_TEXT = {
    401: "No usable, a wrong or an expired bearer credential (only when AUTH_MODE is api_key or jwt).",
    403: "The signed upload target is missing, wrong or expired.",
    404: "No such run (or another identity's), or no such delivery.",
    409: "The run or delivery is not in a state that allows this.",
    413: "The body, or a bundle or file tree in it, is over the service's limits.",
    422: "The request does not fit the route: not JSON, a bad field or parameter, a method or input refused.",
    429: "Too many runs at once for this tenant, or the provider's rate limit.",
    500: "The service is misconfigured (a secret unset); never a traceback.",
    501: "A capability this service does not offer.",
    502: "The model provider failed.",
    503: "Temporal or the blob store cannot be reached; send the same request again after `Retry-After`.",
    504: "The model provider or the build took too long.",
}
# Answers that always carry a header (§3b, §13.1): documented so clients and schemathesis expect it.
_STATUS_HEADERS: dict[int, dict[str, Schema]] = {
    401: {"WWW-Authenticate": {"required": True, "schema": {"type": "string"}}},
    429: {"Retry-After": {"required": True, "schema": {"type": "string", "pattern": "^[0-9]+$"}}},
    503: {"Retry-After": {"required": True, "schema": {"type": "string", "pattern": "^[0-9]+$"}}},
}

_DOMAINS = ["input", "method", "account", "operator", "runtime"]
_NEXT_STEPS = [
    "retry", "wait", "read_run", "refresh", "change_input", "change_method", "change_model",
    "check_credentials", "request_access", "check_account", "fix_configuration", "upgrade",
    "contact_owner", "report",
]  # fmt: skip
PROBLEM_SCHEMA: Schema = {
    "title": "Problem",
    "description": "An RFC 9457 problem document with the MTHDS members (http-api.md §13.1); members "
    "without a value are absent, never null.",
    "type": "object",
    "required": ["type", "title", "status", "detail", "code", "domain", "retry", "next_step", "request_id"],
    "properties": {
        "type": {"type": "string", "description": "https://mthds.ai/errors/<code>"},
        "title": {"type": "string", "description": "Fixed per code."},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "description": "One sentence for a person; never parsed."},
        "code": {"type": "string", "pattern": r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){1,2}$"},
        "domain": {"type": "string", "enum": _DOMAINS},
        "retry": {"type": "string", "enum": ["no", "yes", "outcome_unknown"]},
        "retry_after": {
            "type": "integer",
            "minimum": 0,
            "description": "Seconds, as the Retry-After header.",
        },
        "next_step": {
            "type": "object",
            "required": ["kind", "detail"],
            "properties": {
                "kind": {"type": "string", "enum": _NEXT_STEPS},
                "detail": {"type": "string"},
            },
        },
        "params": {"type": "object", "description": "Facts of the code: field, reason, limit, size..."},
        "location": {"type": "object", "description": "Where: field; line, column; file, pipe, path."},
        "errors": {"type": "array", "items": {"type": "object"}, "description": "On method.invalid."},
        "pipeline_run_id": {"type": "string"},
        "request_id": {"type": "string", "description": "Equals the X-Request-ID header."},
        "run_error": {"type": "object", "description": "On run.failed: the run's own problem."},
    },
}
_PROBLEM_REF = "#/components/schemas/Problem"


def _codes_of(status: int) -> list[str]:
    return sorted(code.value for code, spec in CATALOGUE.items() if spec.status == status)


def problem_response(status: int) -> Schema:
    """The documented answer of an error `status`: a Problem whose `status` member is `status`."""
    codes = ", ".join(f"`{code}`" for code in _codes_of(status))
    answer: Schema = {
        "description": f"{_STATUS_TEXT[status]} Codes of this status: {codes}.",
        "content": {
            PROBLEM_MEDIA_TYPE: {
                "schema": {"allOf": [{"$ref": _PROBLEM_REF}, {"properties": {"status": {"const": status}}}]}
            }
        },
    }
    if status in _STATUS_HEADERS:
        answer["headers"] = _STATUS_HEADERS[status]
    return answer


# Success answers FastAPI cannot see (the routes build their JSON themselves): their shapes (§6, §9).
_STRING: Schema = {"type": "string"}
_INSTANT: Schema = {"type": "string", "format": "date-time"}
_STATE: Schema = {"type": "string", "enum": [state.value for state in RunState]}


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def _answer(**members: Schema) -> Schema:
    """An object answer that always carries `members` (and may carry more: extensions, legacy members)."""
    return {"type": "object", "required": list(members), "properties": members}


_RUN_STARTED = _answer(
    pipeline_run_id=_STRING,
    workflow_id=_STRING,
    created_at=_INSTANT,
    state=_STATE,
    pipeline_state=_STATE,
    finished_at=_nullable(_INSTANT),
    main_stuff_name=_nullable(_STRING),
    pipe_output=_nullable({"type": "object"}),
)
_RUN_PAGE = _answer(
    items={
        "type": "array",
        "items": _answer(
            pipeline_run_id=_STRING,
            status=_STATE,
            state=_STATE,
            pipe_code=_nullable(_STRING),
            created_at=_INSTANT,
            finished_at=_nullable(_INSTANT),
            error=_nullable({"type": "object"}),
        ),
    },
    next_cursor=_nullable(_STRING),
)
_CANCEL_ASKED = _answer(
    pipeline_run_id=_STRING, state=_STATE, status=_STATE, cancel_requested={"type": "boolean", "const": True}
)
_RUN_RESUMED = {
    **_RUN_STARTED,
    "required": [*_RUN_STARTED["required"], "resumed_from"],
    "properties": {**_RUN_STARTED["properties"], "resumed_from": _STRING},
}
_ANY: Schema = {}
_STARTS = {
    "202": ("The run is started; `Location` names it.", _RUN_STARTED),
    "200": ("The same request again.", _RUN_STARTED),
}
_ENDS = {
    "200": ("The run's result.", _ANY),
    "202": ("The run goes on past EXECUTE_WAIT_SECONDS: poll it.", _RUN_STARTED),
}
# Described, not given a schema: a reader of the first success schema takes it for the 200's (the client's
# drift test, tests/unit/test_client_openapi.py), and those 200s are not described here yet.
_GOING = ("The run is still going: `pipeline_run_id`, `state`, `status`.", _ANY)
_BUILT = {
    "200": ("The validated bundle.", _ANY),
    "202": ("With `async`: the build's run is started, as `/v1/start` answers.", _ANY),
}
# (method, path) -> status -> (description, schema of the JSON answer); these replace FastAPI's guesses.
SUCCESS_ANSWERS: dict[tuple[str, str], dict[str, tuple[str, Schema]]] = {
    ("post", "/v1/start"): _STARTS,
    ("post", "/api/v1/pipeline/start"): _STARTS,
    ("post", "/v1/execute"): _ENDS,
    ("post", "/api/v1/pipeline/execute"): _ENDS,
    ("get", "/v1/runs"): {"200": ("A page of the caller's runs, newest first.", _RUN_PAGE)},
    ("get", "/v1/runs/{run_id}/results"): {"200": ("The run's results.", _ANY), "202": _GOING},
    ("get", "/v1/runs/{run_id}/results/items"): {"200": ("A page of items.", _ANY), "202": _GOING},
    ("post", "/v1/runs/{run_id}/cancel"): {"202": ("The run will end CANCELLED.", _CANCEL_ASKED)},
    ("post", "/v1/runs/{run_id}/resume"): {
        "202": ("The resumed run is started; `Location` names it.", _RUN_RESUMED),
        "200": ("The same resume again.", _RUN_RESUMED),
    },
    ("post", "/v1/build/pipeline"): _BUILT,
    ("post", "/api/v1/pipe-builder/build"): _BUILT,
}
# A method that runs offline (no model): the example Swagger UI offers, and schemathesis sends first.
EXAMPLE_BUNDLE = """domain = "hello"
main_pipe = "greet"

[pipe.greet]
type = "PipeCompose"
description = "Greets the guest"
inputs = { name = "Text" }
output = "Text"
template = "Hello, {{ name }}!"
"""
_RUN_EXAMPLE = {"mthds_content": EXAMPLE_BUNDLE, "inputs": {"name": "Ada"}}
REQUEST_EXAMPLES: dict[str, Schema] = {
    "/v1/start": _RUN_EXAMPLE,
    "/api/v1/pipeline/start": _RUN_EXAMPLE,
    "/v1/execute": _RUN_EXAMPLE,
    "/api/v1/pipeline/execute": _RUN_EXAMPLE,
    "/v1/validate": {"mthds_content": EXAMPLE_BUNDLE},
}
