"""The served OpenAPI document (`/openapi.json`): FastAPI's generated one, completed with what the service
really answers, so schemathesis' conformance checks hold (tests/integration/test_openapi_fuzz.py).

FastAPI only sees signatures: it documents neither the problem answers (`application/problem+json`,
http-api.md §13) nor the statuses routes raise deep in the code. `ERROR_STATUSES` lists them per route;
the 401 and 500 of authentication are derived from the routes' dependencies instead. Query values are
never null on the wire and never empty here (an empty value is a 422), and the document says so.
`python -m api.openapi_doc > docs/openapi.json` writes the committed copy a test pins.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from typing import Any, cast

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from api.auth import authenticate
from api.openapi_answers import PROBLEM_SCHEMA, REQUEST_EXAMPLES, SUCCESS_ANSWERS, problem_response

Schema = dict[str, Any]

_ROUTE_CHECKS = (413, 422)  # any route with a body: over the body limit, or not its schema
# A method's `files` may name blobs by hash: read from the blob store, which may be down (503).
_READS_BLOBS = (*_ROUTE_CHECKS, 503)
_RUN_READ = (404, 503)  # a run's id: not the caller's run (or none); Temporal down
_RUN_SUBMIT = (409, 413, 422, 429, 500, 501, 503)  # §4.5: every check before a run starts
_RUN_END = (*_RUN_SUBMIT, 502, 504)  # `/execute` answers with the ended run's problem and status (§5)
_BUILD = (413, 422, 429, 501, 502, 503, 504)  # the Pipe Builder calls a model, then starts a run

# (method, path) -> the error statuses the route answers besides authentication's (401/500, derived).
ERROR_STATUSES: dict[tuple[str, str], tuple[int, ...]] = {
    ("get", "/"): (),
    ("get", "/health"): (),
    ("get", "/ready"): (503,),
    ("get", "/v1/version"): (),
    ("get", "/api/v1/pipelex_version"): (),
    ("get", "/api/v1/api_version"): (),
    ("post", "/v1/validate"): _READS_BLOBS,
    ("post", "/api/v1/validate"): _READS_BLOBS,
    ("post", "/api/v1/pipeline/validate"): _READS_BLOBS,
    ("get", "/v1/models"): (422,),
    ("get", "/api/v1/models"): (422,),
    ("get", "/v1/models/check"): (422,),
    ("get", "/v1/usage"): (503,),
    ("post", "/v1/start"): _RUN_SUBMIT,
    ("post", "/api/v1/pipeline/start"): _RUN_SUBMIT,
    ("post", "/v1/execute"): _RUN_END,
    ("post", "/api/v1/pipeline/execute"): _RUN_END,
    ("get", "/v1/runs"): (422, 503),
    ("get", "/v1/runs/{run_id}"): _RUN_READ,
    ("get", "/v1/runs/{run_id}/status"): _RUN_READ,
    ("get", "/v1/runs/{run_id}/progress"): _RUN_READ,
    ("get", "/v1/runs/{run_id}/results"): (*_RUN_READ, 409, 422),
    ("get", "/v1/runs/{run_id}/results/items"): (*_RUN_READ, 409, 422),
    ("post", "/v1/runs/{run_id}/cancel"): (*_RUN_READ, 409, 413, 422),
    ("post", "/v1/runs/{run_id}/resume"): (404, *_RUN_SUBMIT),
    ("post", "/v1/runs/resume"): (409, 413, 422, 501, 503),
    ("get", "/v1/runs/resume/{job_id}"): (404, 503),
    ("get", "/v1/runs/{run_id}/events"): (*_RUN_READ, 422),
    ("get", "/v1/runs/{run_id}/deliveries"): _RUN_READ,
    ("post", "/v1/runs/{run_id}/deliveries/{delivery_id}/cancel"): (*_RUN_READ, 409),
    ("post", "/v1/runs/{run_id}/deliveries/{delivery_id}/redeliver"): (*_RUN_READ, 409),
    ("post", "/v1/pipe-io"): _READS_BLOBS,
    ("post", "/v1/resolve"): _READS_BLOBS,
    ("post", "/v1/codegen"): _READS_BLOBS,
    ("post", "/v1/lint"): _ROUTE_CHECKS,
    ("post", "/v1/format"): _ROUTE_CHECKS,
    ("post", "/v1/blobs/missing"): _READS_BLOBS,
    ("put", "/v1/blobs/{sha256}"): (403, *_READS_BLOBS),
    ("post", "/v1/build/inputs"): _READS_BLOBS,
    ("post", "/api/v1/build/inputs"): _READS_BLOBS,
    ("post", "/v1/build/output"): _READS_BLOBS,
    ("post", "/api/v1/build/output"): _READS_BLOBS,
    ("post", "/v1/build/runner"): _READS_BLOBS,
    ("post", "/api/v1/build/runner"): _READS_BLOBS,
    ("post", "/api/v1/pipe-builder/generate-runner"): _READS_BLOBS,
    ("post", "/v1/build/pipeline"): _BUILD,
    ("post", "/api/v1/pipe-builder/build"): _BUILD,
}
_EVENT_STREAM = {"text/event-stream": {"schema": {"type": "string"}}}
_AUTH_STATUSES = (401, 500)  # no, a wrong or an expired credential; the mode's secret unset (§3b)


def _depends_on(dependant: Dependant, call: Callable[..., Any]) -> bool:
    return any(sub.call is call or _depends_on(sub, call) for sub in dependant.dependencies)


def _operations(app: FastAPI) -> Iterator[tuple[str, str, RouteContext]]:
    # Included routers' routes come with their router's dependencies only through their contexts.
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute) and route.include_in_schema:
            for method in sorted(route.methods or ()):
                yield method.lower(), route.path_format or "", route


def authenticated_operations(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every documented route that authenticates its caller, read from its dependencies."""
    return {
        (method, path)
        for method, path, route in _operations(app)
        if _depends_on(route.dependant, authenticate)
    }


def _query_schema(schema: Schema) -> Schema:
    """A query parameter's schema as the wire has it: absent rather than null, and never empty."""
    arms = cast(list[Schema], schema.get("anyOf", []))
    present = [arm for arm in arms if arm.get("type") != "null"]
    if arms and len(present) == 1:
        schema = {**{key: value for key, value in schema.items() if key != "anyOf"}, **present[0]}
    if schema.get("type") == "string" and "enum" not in schema:
        schema = {**schema, "minLength": max(1, schema.get("minLength", 1))}
    if schema.get("type") == "array":
        schema = {**schema, "items": _query_schema(schema.get("items", {}))}
    return schema


# `GET /v1/runs`: each state value is a comma-separated list of states, any case, none empty (§9.2).
_STATE_LIST = {
    "type": "string",
    "pattern": "^ *[A-Za-z]+ *(, *[A-Za-z]+ *)*$",
    "description": "Run states (STARTED, RUNNING, COMPLETED, FAILED, CANCELLED; ERROR reads as FAILED), "
    "comma-separated, any case; an unknown one is a 422.",
}


def _complete_parameters(operation: Schema, path: str) -> None:
    for parameter in cast(list[Schema], operation.get("parameters", [])):
        if parameter["in"] != "query":
            continue
        parameter["schema"] = _query_schema(parameter["schema"])
        if path == "/v1/runs" and parameter["name"] in ("state", "status"):
            parameter["schema"]["items"] = {**_STATE_LIST}
        if path == "/v1/runs" and parameter["name"].startswith("created_"):
            # An RFC 3339 instant with its offset; a bare date is a 422 (§9.2).
            parameter["schema"]["format"] = "date-time"


def _complete_responses(operation: Schema, statuses: tuple[int, ...]) -> None:
    responses = cast(dict[str, Schema], operation["responses"])
    # FastAPI's own 422 (`HTTPValidationError`) is never what the service sends: its problem is.
    responses.pop("422", None)
    for status in sorted(set(statuses)):
        documented = responses.get(str(status), {})
        answer = problem_response(status)
        if "description" in documented and not documented["description"].startswith("Unsuccessful"):
            answer["description"] = f"{documented['description']} {answer['description']}"
        responses[str(status)] = answer
    operation["responses"] = dict(sorted(responses.items()))


def _guessed_statuses(operation: Schema) -> tuple[int, ...]:
    """A route missing from `ERROR_STATUSES` (one a test adds): what its body and parameters imply.

    The document is still served; tests/integration/test_openapi_contract.py fails on such a route
    among the service's own.
    """
    if "requestBody" in operation:
        return _ROUTE_CHECKS
    return (422,) if operation.get("parameters") else ()


def complete_document(document: Schema, authenticated: set[tuple[str, str]]) -> Schema:
    """`document` (FastAPI's) with the problem answers, query rules and schemas the service really has."""
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = PROBLEM_SCHEMA
    components["securitySchemes"] = {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key or a JWT, when AUTH_MODE is api_key or jwt; none when it is none.",
        }
    }
    for path, item in cast(dict[str, dict[str, Schema]], document["paths"]).items():
        for method, operation in item.items():
            listed = ERROR_STATUSES.get((method, path))
            statuses = listed if listed is not None else _guessed_statuses(operation)
            if (method, path) in authenticated:
                statuses = (*statuses, *_AUTH_STATUSES)
                # Optional: the deployment's AUTH_MODE decides whether a credential is needed.
                operation["security"] = [{"bearer": []}, {}]
            _complete_parameters(operation, path)
            if (method, path) in SUCCESS_ANSWERS:
                operation["responses"] = {
                    status: {"description": text, "content": {"application/json": {"schema": schema}}}
                    for status, (text, schema) in SUCCESS_ANSWERS[(method, path)].items()
                }
            if path in REQUEST_EXAMPLES:
                operation["requestBody"]["content"]["application/json"]["example"] = REQUEST_EXAMPLES[path]
            if path == "/v1/runs/{run_id}/events":
                operation["responses"]["200"]["content"] = _EVENT_STREAM
            _complete_responses(operation, statuses)
    return document


def install_openapi(app: FastAPI) -> None:
    """Serve the completed document as `app.openapi()` (and so `/openapi.json`, `/docs`, `/redoc`)."""
    generate = app.openapi
    completed: list[Schema] = []

    def openapi() -> Schema:
        # FastAPI's `openapi()` caches its document, and builds a new one when routes were added since.
        document = generate()
        if not completed or completed[-1] is not document:
            completed[:] = [complete_document(document, authenticated_operations(app))]
        return document

    app.openapi = openapi


def document_text(app: FastAPI) -> str:
    """The document as committed in docs/openapi.json: indented, keys in the service's order."""
    return json.dumps(app.openapi(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    from api.main import create_app
    from api.settings import ApiSettings

    sys.stdout.write(document_text(create_app(ApiSettings())))
