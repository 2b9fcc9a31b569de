"""The client's typed answers (`client/models.py`, `client/tool_models.py`) stay equal to the OpenAPI
document the service serves: every member a model declares is a member of its route's success answer
there, a member the model requires is always sent, and the model accepts every JSON type the document
allows for it. Routes whose answer the document does not describe yet (no response schema) are named
in `ANSWER_CHECKED`: tests/integration/test_client.py checks their real answers carry every member
(all but `/v1/build/pipeline`, which needs an LLM provider: `UNCHECKED`).
"""

from __future__ import annotations

from functools import cache
from typing import Any, cast

import pytest
from pydantic import BaseModel

from api.main import create_app
from api.settings import ApiSettings
from client import (
    CancelRequested,
    Deliveries,
    Formatted,
    GeneratedCode,
    Health,
    LintReport,
    ModelCheck,
    ModelDeck,
    OutputTemplate,
    Readiness,
    ResolvedCrate,
    ResultItems,
    ResumeJob,
    ResumeJobAccepted,
    RunnerCode,
    RunPage,
    RunProgress,
    RunRecord,
    RunResults,
    RunStarted,
    RunStatus,
    ValidationVerdict,
    Version,
)

Schema = dict[str, Any]

# (method, path) → the client model reading its success answer.
ANSWERS: dict[tuple[str, str], type[BaseModel]] = {
    ("get", "/health"): Health,
    ("get", "/ready"): Readiness,
    ("get", "/v1/version"): Version,
    ("post", "/v1/start"): RunStarted,
    ("post", "/v1/execute"): RunStarted,
    ("get", "/v1/runs"): RunPage,
    ("get", "/v1/runs/{run_id}"): RunRecord,
    ("get", "/v1/runs/{run_id}/status"): RunStatus,
    ("get", "/v1/runs/{run_id}/progress"): RunProgress,
    ("get", "/v1/runs/{run_id}/results"): RunResults,
    ("get", "/v1/runs/{run_id}/results/items"): ResultItems,
    ("post", "/v1/runs/{run_id}/cancel"): CancelRequested,
    ("post", "/v1/runs/{run_id}/resume"): RunStarted,
    ("post", "/v1/runs/resume"): ResumeJobAccepted,
    ("get", "/v1/runs/resume/{job_id}"): ResumeJob,
    ("get", "/v1/runs/{run_id}/deliveries"): Deliveries,
    ("post", "/v1/validate"): ValidationVerdict,
    ("post", "/v1/pipe-io"): ValidationVerdict,
    ("post", "/v1/build/pipeline"): ValidationVerdict,
    ("post", "/v1/build/inputs"): ValidationVerdict,
    ("post", "/v1/build/output"): OutputTemplate,
    ("post", "/v1/build/runner"): RunnerCode,
    ("post", "/v1/resolve"): ResolvedCrate,
    ("post", "/v1/codegen"): GeneratedCode,
    ("post", "/v1/lint"): LintReport,
    ("post", "/v1/format"): Formatted,
    ("get", "/v1/models"): ModelDeck,
    ("get", "/v1/models/check"): ModelCheck,
}

# Routes served without a response schema today (issue 18 documents them): their real answers are
# checked against the models by tests/integration/test_client.py instead.
ANSWER_CHECKED = {
    "/v1/start",
    "/v1/execute",
    "/v1/runs",
    "/v1/runs/{run_id}",
    "/v1/runs/{run_id}/status",
    "/v1/runs/{run_id}/progress",
    "/v1/runs/{run_id}/results",
    "/v1/runs/{run_id}/results/items",
    "/v1/runs/{run_id}/cancel",
    "/v1/runs/{run_id}/deliveries",
}
# Not checked at all: building a pipeline needs an LLM provider, which these tests do not have. Its
# model (ValidationVerdict, `is_valid`, `errors`, `message`) is checked on `/v1/validate`.
UNCHECKED = {"/v1/build/pipeline"}


@cache
def served_document() -> Schema:
    return create_app(ApiSettings()).openapi()


def _resolve(schema: Schema, components: Schema) -> Schema:
    while "$ref" in schema:
        schema = components[str(schema["$ref"]).rsplit("/", 1)[-1]]
    if len(schema.get("allOf", [])) == 1:
        return _resolve(schema["allOf"][0], components)
    return schema


def json_types(schema: Schema, components: Schema) -> frozenset[str] | None:
    """The JSON types a schema allows; None when it allows any value."""
    schema = _resolve(schema, components)
    arms = schema.get("anyOf") or schema.get("oneOf")
    if arms is not None:
        found: set[str] = set()
        for arm in cast("list[Schema]", arms):
            types = json_types(arm, components)
            if types is None:
                return None
            found |= types
        return frozenset(found)
    kind = schema.get("type")
    if isinstance(kind, str):
        return frozenset({kind})
    if isinstance(kind, list):
        return frozenset(cast("list[str]", kind))
    if "enum" in schema:
        return frozenset("string" if isinstance(v, str) else "null" for v in schema["enum"])
    return None


def answer_arms(method: str, path: str) -> list[Schema] | None:
    """The object schemas of the route's first documented success answer (one per arm of a union);
    None when no 2xx answer has one."""
    document = served_document()
    responses: dict[str, Schema] = document["paths"][path][method]["responses"]
    schemas = [
        answer.get("content", {}).get("application/json", {}).get("schema")
        for status, answer in sorted(responses.items())
        if status.startswith("2")
    ]
    schema = next((one for one in schemas if one), None)
    if schema is None:
        return None
    components = document["components"]["schemas"]
    schema = _resolve(schema, components)
    return [_resolve(arm, components) for arm in schema.get("anyOf") or schema.get("oneOf") or [schema]]


def drift(model: type[BaseModel], arms: list[Schema]) -> list[str]:
    """What the model declares that the served answer does not: one line per fault."""
    components = served_document()["components"]["schemas"]
    own = model.model_json_schema(mode="validation")
    own_components = own.get("$defs", {})
    faults: list[str] = []
    for name, field in model.model_fields.items():
        serving = [arm for arm in arms if name in arm.get("properties", {})]
        if not serving:
            faults.append(f"`{name}` is declared by the client but in no arm of the served answer")
            continue
        if field.is_required():
            for index, arm in enumerate(arms):
                member = arm.get("properties", {}).get(name)
                always_sent = member is not None and (
                    name in arm.get("required", []) or "default" in member or "const" in member
                )
                if not always_sent:
                    faults.append(f"`{name}` is required by the client but arm {index} may leave it out")
        accepted = json_types(own["properties"][name], own_components)
        for arm in serving:
            sent = json_types(arm["properties"][name], components)
            if accepted is None:
                continue
            if sent is None:
                faults.append(f"`{name}` may be any value served, the client accepts only {sorted(accepted)}")
                continue
            widened = accepted | {"integer"} if "number" in accepted else accepted
            if not sent <= widened:
                faults.append(
                    f"`{name}` may be served as {sorted(sent)}, the client accepts {sorted(accepted)}"
                )
    return faults


@pytest.mark.parametrize(
    ("route", "model"), list(ANSWERS.items()), ids=[f"{m.upper()} {p}" for m, p in ANSWERS]
)
def test_each_client_model_matches_its_route_s_served_answer(
    route: tuple[str, str], model: type[BaseModel]
) -> None:
    method, path = route
    arms = answer_arms(method, path)
    if arms is None:
        assert path in ANSWER_CHECKED | UNCHECKED, (
            f"{method.upper()} {path} has no response schema in the OpenAPI document, and no test checks "
            f"its real answers against {model.__name__}"
        )
        return
    faults = drift(model, arms)
    assert not faults, f"{model.__name__} drifted from {method.upper()} {path}:\n" + "\n".join(faults)


def test_every_served_tooling_and_probe_route_is_covered() -> None:
    # A new route under these prefixes needs a client method and a model here.
    document = served_document()
    served = {
        (method, path)
        for path, operations in document["paths"].items()
        for method in operations
        if path.startswith(("/v1/build/", "/v1/models", "/v1/resolve", "/v1/codegen", "/v1/runs"))
        or path in ("/health", "/ready", "/v1/version", "/v1/lint", "/v1/format", "/v1/pipe-io")
    }
    covered = set(ANSWERS)
    not_read = {
        ("get", "/v1/runs/{run_id}/events"),  # a stream, read by `wait`
        ("post", "/v1/runs/{run_id}/deliveries/{delivery_id}/cancel"),
        ("post", "/v1/runs/{run_id}/deliveries/{delivery_id}/redeliver"),
    }
    assert served - covered - not_read == set()


def test_a_drifted_model_is_named_with_its_fault() -> None:
    # The check itself: a model with a member the service never sends, or of another type, fails.
    class Drifted(BaseModel):
        protocol_version: int
        absent_member: str

    arms = answer_arms("get", "/v1/version")
    assert arms is not None
    faults = drift(Drifted, arms)
    assert any("`absent_member` is declared by the client but in no arm" in fault for fault in faults)
    assert any("`protocol_version` may be served as ['string']" in fault for fault in faults)
