"""The OpenAPI document is a contract: pinned to the committed copy, and saying what the service does.

docs/openapi.json is the served document; a change to the wire shows as a diff of that file. The other
tests hold the document to the service: every error answer is a problem, every authenticated route (read
from its dependencies) documents 401, an empty query value is refused as the schema says, and a body
without a method source, or with two, is refused as its `oneOf` says.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any, cast

import jsonschema
import pytest
from pydantic import SecretStr

from api.auth import SINGLE_TENANT, AuthMode, Caller
from api.main import create_app
from api.openapi_doc import ERROR_STATUSES, authenticated_operations
from api.problems import PROBLEM_MEDIA_TYPE, ProblemError
from api.run_listing import build_query
from api.settings import ApiSettings
from tests.helpers.api_server import REPO_ROOT, asgi_client, assert_problem

COMMITTED = REPO_ROOT / "docs" / "openapi.json"
REGENERATE = ".venv/bin/python -m api.openapi_doc > docs/openapi.json"
# Nothing listens here: a route that needs Temporal answers 503 at once, after its own checks.
REFUSING_TEMPORAL = "127.0.0.1:9"

Schema = dict[str, Any]


@cache
def _document() -> Schema:
    return create_app(ApiSettings(temporal_address=REFUSING_TEMPORAL)).openapi()


def _operations() -> list[tuple[str, str, Schema]]:
    paths = cast(dict[str, dict[str, Schema]], _document()["paths"])
    return [(method, path, operation) for path, item in paths.items() for method, operation in item.items()]


async def test_the_served_document_is_the_committed_one() -> None:
    async with asgi_client(ApiSettings(temporal_address=REFUSING_TEMPORAL)) as client:
        served = (await client.get("/openapi.json")).json()
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert served == committed, (
        f"The served OpenAPI document differs from {COMMITTED.relative_to(REPO_ROOT)}: if the change to the "
        f"contract is meant, regenerate it with `{REGENERATE}` and commit the diff."
    )


def test_every_route_has_its_statuses_listed_and_no_listed_route_is_gone() -> None:
    documented = {(method, path) for method, path, _ in _operations()}
    assert documented == set(ERROR_STATUSES)


def test_every_error_answer_is_a_documented_problem() -> None:
    for _, _, operation in _operations():
        _assert_problem_answers(operation)


def _assert_problem_answers(operation: Schema) -> None:
    for status, answer in cast(dict[str, Schema], operation["responses"]).items():
        if int(status) < 400:
            continue
        assert list(answer["content"]) == [PROBLEM_MEDIA_TYPE]
        arms = answer["content"][PROBLEM_MEDIA_TYPE]["schema"]["allOf"]
        assert arms[0] == {"$ref": "#/components/schemas/Problem"}
        assert arms[1]["properties"]["status"] == {"const": int(status)}


def test_authenticated_routes_document_401_and_public_ones_do_not() -> None:
    authenticated = authenticated_operations(create_app(ApiSettings()))
    assert ("post", "/v1/execute") in authenticated
    assert ("get", "/v1/version") not in authenticated
    for method, path, operation in _operations():
        assert ("401" in operation["responses"]) == ((method, path) in authenticated), f"{method} {path}"


async def test_an_authenticated_route_answers_401_as_documented_when_auth_is_on() -> None:
    settings = ApiSettings(
        temporal_address=REFUSING_TEMPORAL, auth_mode=AuthMode.API_KEY, api_key=SecretStr("the-key")
    )
    async with asgi_client(settings) as client:
        response = await client.get("/v1/runs")
    assert_problem(response, 401, "auth.missing_credential")
    assert "WWW-Authenticate" in _document()["paths"]["/v1/runs"]["get"]["responses"]["401"]["headers"]


def _empty_query_cases() -> list[tuple[str, str, str]]:
    found: list[tuple[str, str, str]] = []
    for method, path, operation in _operations():
        for parameter in cast(list[Schema], operation.get("parameters", [])):
            if parameter["in"] == "query":
                found.append((method, path, parameter["name"]))
    return found


@pytest.mark.parametrize(("method", "path", "name"), _empty_query_cases())
async def test_an_empty_query_value_is_refused_as_the_schema_says(method: str, path: str, name: str) -> None:
    operation = _document()["paths"][path][method]
    parameter = next(item for item in operation["parameters"] if item["name"] == name)
    schema = parameter["schema"]
    # The document refuses the empty value...
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate([""] if schema.get("type") == "array" else "", schema)
    # ...and so does the service.
    url = path.replace("{run_id}", "run-1").replace("{sha256}", "0" * 64).replace("{delivery_id}", "d-1")
    async with asgi_client(ApiSettings(temporal_address=REFUSING_TEMPORAL)) as client:
        response = await client.request(method.upper(), url, params={name: ""}, content=b"{}")
    # The signed upload refuses any incomplete signature with 403 before reading the rest.
    if path == "/v1/blobs/{sha256}":
        assert_problem(response, 403, "auth.forbidden")
    else:
        assert_problem(response, 422, "request.invalid")


def _fits(body: Schema, schema: Schema) -> bool:
    try:
        jsonschema.validate(body, schema, cls=jsonschema.Draft202012Validator)
    except jsonschema.ValidationError:
        return False
    return True


METHOD_SOURCE_BODIES = [
    ("no source", {"pipe_code": "hello"}, False),
    ("two sources", {"mthds_contents": ['domain = "a"'], "mthds_content": 'domain = "a"'}, False),
    ("a null source beside one", {"files": None, "mthds_content": 'domain = "a"'}, True),
    ("one source", {"mthds_contents": ['domain = "a"']}, True),
]


@pytest.mark.parametrize("route", ["/v1/start", "/v1/validate", "/v1/pipe-io", "/v1/resolve"])
@pytest.mark.parametrize(
    ("label", "body", "fits"), METHOD_SOURCE_BODIES, ids=[c[0] for c in METHOD_SOURCE_BODIES]
)
async def test_the_body_schema_says_exactly_one_method_source_as_the_service_does(
    route: str, label: str, body: Schema, fits: bool
) -> None:
    del label
    schema = _document()["paths"][route]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert _fits(body, schema) == fits
    async with asgi_client(ApiSettings(temporal_address=REFUSING_TEMPORAL)) as client:
        response = await client.post(route, json=body)
    if fits:
        # Past the method-source check: the bundle itself is judged (a verdict, a 422 about it, or 503).
        assert response.status_code == 200 or response.json().get("params", {}).get("field") not in (
            "files",
            "mthds_contents",
            "mthds_content",
        ), response.text
    else:
        problem = assert_problem(response, 422, "request.invalid")
        assert problem["params"]["field"] in ("mthds_contents", "mthds_content")


# Found by tests/integration/test_openapi_fuzz.py once `created_*` said `format: date-time`: a year before
# 1000 reached Temporal unpadded (its parse failed: a 500), and an offset past year 1 or 9999 overflowed.
@pytest.mark.parametrize(
    ("instant", "written"),
    [
        ("0273-04-30T23:03:51.38247Z", "0273-04-30T23:03:51.382470Z"),
        ("2026-11-23T15:00:00+01:00", "2026-11-23T14:00:00.000000Z"),
    ],
)
def test_a_listing_bound_is_written_as_an_rfc3339_instant_temporal_reads(instant: str, written: str) -> None:
    query = build_query(
        Caller(SINGLE_TENANT, AuthMode.NONE), states=[], pipe_code=None, after=instant, before=None
    )
    assert f"StartTime >= '{written}'" in query


@pytest.mark.parametrize("instant", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_listing_bound_outside_the_calendar_in_utc_is_refused(instant: str) -> None:
    with pytest.raises(ProblemError) as refused:
        build_query(
            Caller(SINGLE_TENANT, AuthMode.NONE), states=[], pipe_code=None, after=None, before=instant
        )
    assert (refused.value.status, refused.value.params) == (422, {"field": "created_before"})


async def test_a_blob_hash_inside_longer_text_is_refused() -> None:
    # Found by the fuzzing: the model's pattern matched 64 hex digits anywhere in the value, and the blob
    # store then refused the name with a 500.
    blob = {"sha256": "x" + "a" * 64 + "LPT1", "size": 3}
    async with asgi_client(ApiSettings(temporal_address=REFUSING_TEMPORAL)) as client:
        response = await client.post("/v1/blobs/missing", json={"blobs": [blob]})
    assert assert_problem(response, 422, "request.invalid")["params"] == {"field": "blobs.0.sha256"}
