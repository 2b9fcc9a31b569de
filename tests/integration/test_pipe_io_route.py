"""`POST /v1/pipe-io` (docs/design/tooling-routes.md §2): contracts and forms of the selected pipe or of
every pipe, the echo of the bundles, the invalid arm and the selection refusals, through the real app.

The answers were compared with pipelex-api 0.92.2's while this route was written (the report of issue 16):
these tests pin the same shapes without needing the reference.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from api.auth import AuthMode
from api.settings import ApiSettings
from tests.helpers.api_server import asgi_client, assert_problem
from tests.unit.test_input_forms import FORMS_BUNDLE

HELLO = (Path(__file__).resolve().parents[2] / "docs" / "examples" / "hello.mthds").read_text()
VALID_ARM = [
    "is_valid", "pipe_ref", "pipe_io_contracts", "input_form", "output_form", "default_pipe_ref",
    "pending_signatures", "is_runnable",
]  # fmt: skip
WELCOME_FORM = {
    "fields": [
        {
            "kind": "prose", "name": "name", "concept_ref": "native.Text", "description": "A text",
            "required": True, "presence": "plain", "gating": True,
        }
    ]
}  # fmt: skip
WELCOME_OUTPUT = {
    "field": {
        "kind": "object", "name": "output", "concept_ref": "hello.Welcome",
        "description": "A greeting for a named guest", "required": True,
        "fields": [
            {"kind": "text", "name": "guest", "description": "Who is greeted", "required": True},
            {"kind": "text", "name": "message", "description": "What they are told", "required": True},
        ],
    }
}  # fmt: skip
NO_MAIN = HELLO.replace('main_pipe = "welcome"\n', "")
SIGNED = """domain = "draft"
main_pipe = "plan"

[pipe.plan]
description = "Plans, not written yet"
inputs = { brief = "Text" }
output = "Text"
"""


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client() as client:
        yield client


async def _valid(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/v1/pipe-io", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    answer: dict[str, Any] = response.json()
    assert answer["is_valid"] is True, answer
    assert set(answer["pipe_io_contracts"]) == set(answer["input_form"]) == set(answer["output_form"])
    return answer


async def test_the_main_pipe_is_described_with_nulls_kept(client: httpx.AsyncClient) -> None:
    answer = await _valid(client, {"files": {"hello.mthds": HELLO}})
    assert list(answer) == VALID_ARM
    assert answer["pipe_ref"] == answer["default_pipe_ref"] == "hello.welcome"
    assert (answer["pending_signatures"], answer["is_runnable"]) == ([], True)
    assert answer["input_form"] == {"hello.welcome": WELCOME_FORM}
    assert answer["output_form"] == {"hello.welcome": WELCOME_OUTPUT}
    contract = answer["pipe_io_contracts"]["hello.welcome"]
    assert list(contract["inputs"]["name"]) == [
        "concept_ref",
        "presence",
        "multiplicity",
        "item_count",
        "json_schema",
    ]
    assert contract["inputs"]["name"]["item_count"] is None  # null members are kept on this route
    assert list(contract["output"]) == [
        "concept_ref",
        "multiplicity",
        "item_count",
        "optional",
        "json_schema",
    ]
    assert (contract["output"]["concept_ref"], contract["output"]["optional"]) == ("hello.Welcome", False)
    assert contract["output"]["json_schema"]["required"] == ["guest", "message"]


async def test_a_bare_code_selects_its_qualified_pipe(client: httpx.AsyncClient) -> None:
    answer = await _valid(client, {"files": {"hello.mthds": HELLO}, "pipe_ref": "greet"})
    assert answer["pipe_ref"] == "hello.greet"
    assert answer["default_pipe_ref"] == "hello.welcome"
    assert list(answer["input_form"]) == ["hello.greet"]
    assert answer["output_form"]["hello.greet"]["field"] == {
        "kind": "prose", "name": "output", "concept_ref": "native.Text", "description": "A text", "required": True,
    }  # fmt: skip
    qualified = await _valid(client, {"mthds_contents": [HELLO], "pipe_ref": "hello.greet"})
    assert qualified["input_form"] == answer["input_form"]


async def test_all_pipes_describes_every_pipe_in_load_order(client: httpx.AsyncClient) -> None:
    answer = await _valid(client, {"files": {"hello.mthds": HELLO}, "all_pipes": True})
    assert list(answer["pipe_io_contracts"]) == ["hello.greet", "hello.wrap", "hello.welcome"]
    assert list(answer["input_form"]) == list(answer["output_form"]) == list(answer["pipe_io_contracts"])
    assert answer["pipe_ref"] == "hello.welcome"
    assert [field["name"] for field in answer["input_form"]["hello.wrap"]["fields"]] == ["name", "greeting"]
    requested = await _valid(client, {"files": {"hello.mthds": HELLO}, "all_pipes": True, "pipe_ref": "wrap"})
    assert requested["pipe_ref"] == "hello.wrap"
    assert list(requested["input_form"]) == list(answer["input_form"])
    # No `main_pipe` and no selector: every pipe, and no pipe_ref, rather than a refusal.
    unselected = await _valid(client, {"files": {"hello.mthds": NO_MAIN}, "all_pipes": True})
    assert (unselected["pipe_ref"], unselected["default_pipe_ref"]) == (None, None)
    assert len(unselected["input_form"]) == 3


async def test_include_files_echoes_the_bundles_and_is_absent_otherwise(client: httpx.AsyncClient) -> None:
    files = {"methods/hello.mthds": HELLO, "README.md": "not a bundle"}
    answer = await _valid(client, {"files": files, "include_files": True})
    assert list(answer) == [*VALID_ARM, "files"]
    assert answer["files"] == {"methods/hello.mthds": HELLO}
    assert "files" not in await _valid(client, {"files": files, "include_files": False})


async def test_pending_signatures_are_described_and_make_the_method_not_runnable(
    client: httpx.AsyncClient,
) -> None:
    answer = await _valid(client, {"files": {"draft.mthds": SIGNED}})
    assert answer["pipe_ref"] == "draft.plan"
    assert (answer["pending_signatures"], answer["is_runnable"]) == (["draft.plan"], False)
    forms = await _valid(client, {"files": {"forms.mthds": FORMS_BUNDLE}, "pipe_ref": "make_pair"})
    assert forms["pipe_ref"] == "rich.make_pair"
    assert forms["pending_signatures"] == sorted(forms["pending_signatures"])
    assert forms["output_form"]["rich.make_pair"]["field"]["item_count"] == 2
    assert forms["pipe_io_contracts"]["rich.make_pair"]["output"]["item_count"] == 2


async def test_an_invalid_method_is_the_200_invalid_arm(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/pipe-io", json={"files": {"hello.mthds": HELLO.replace('= "Welcome"', '= "Welcom"')}}
    )
    assert response.status_code == 200
    answer = response.json()
    assert list(answer) == ["is_valid", "errors", "message"]
    assert answer["is_valid"] is False
    assert {item["code"] for item in answer["errors"]} == {"method.concept_unresolved"}
    assert answer["errors"][0]["location"]["file"] == "hello.mthds"
    broken = await client.post("/v1/pipe-io", json={"files": {"b.mthds": 'domain = "x"\n[pipe.a\n'}})
    assert broken.status_code == 200
    [item] = broken.json()["errors"]
    assert item["code"] == "method.syntax"


# Statically sound, but its condition renders to nothing: only a dry run finds that.
DRY_RUN_FAULT = """domain = "parcels"
main_pipe = "route"

[pipe.route]
type = "PipeCondition"
description = "Choose a lane"
inputs = { parcel = "Text" }
output = "Text"
expression = "''"
outcomes = { express = "note" }
default_outcome = "note"

[pipe.note]
type = "PipeCompose"
description = "Note the parcel"
inputs = { parcel = "Text" }
output = "Text"
template = "{{ parcel }}"
"""


async def test_describing_runs_no_dry_run_as_the_reference(client: httpx.AsyncClient) -> None:
    files = {"files": {"parcels.mthds": DRY_RUN_FAULT}}
    described = (await client.post("/v1/pipe-io", json=files)).json()
    assert described["is_valid"] is True
    assert described["pipe_ref"] == "parcels.route"
    # /v1/validate dry-runs the method and finds the fault.
    verdict = (await client.post("/v1/validate", json=files)).json()
    assert verdict["is_valid"] is False
    assert [item["code"] for item in verdict["errors"]] == ["pipe.condition_unmatched"]


async def test_an_unknown_pipe_is_a_422_with_suggestions(client: httpx.AsyncClient) -> None:
    for body in ({"pipe_ref": "gret"}, {"pipe_ref": "hello.nope"}, {"pipe_ref": "gre", "all_pipes": True}):
        response = await client.post("/v1/pipe-io", json={"files": {"hello.mthds": HELLO}, **body})
        problem = assert_problem(response, 422, "request.pipe_not_found")
        assert problem["params"]["pipe"] == body["pipe_ref"]
        assert isinstance(problem["params"]["suggestions"], list)
    response = await client.post("/v1/pipe-io", json={"files": {"hello.mthds": HELLO}, "pipe_ref": "gre"})
    assert "greet" in assert_problem(response, 422, "request.pipe_not_found")["params"]["suggestions"]


async def test_no_selector_and_no_main_pipe_is_a_422_naming_every_pipe(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/pipe-io", json={"files": {"hello.mthds": NO_MAIN}})
    problem = assert_problem(response, 422, "request.pipe_unspecified")
    assert problem["params"]["candidates"] == ["hello.greet", "hello.welcome", "hello.wrap"]
    signed = await client.post(
        "/v1/pipe-io", json={"files": {"draft.mthds": SIGNED.replace('main_pipe = "plan"\n', "")}}
    )
    assert assert_problem(signed, 422, "request.pipe_unspecified")["params"]["candidates"] == ["draft.plan"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"files": {"hello.mthds": HELLO}, "pipe_ref": ""}, "pipe_ref"),
        ({"files": {"hello.mthds": HELLO}, "pipe_ref": "p" * 257}, "pipe_ref"),
        ({"files": {"hello.mthds": HELLO}, "pipe_ref": 7}, "pipe_ref"),
        ({"files": {"hello.mthds": HELLO}, "all_pipes": [True]}, "all_pipes"),
        ({"files": {"hello.mthds": HELLO}, "include_files": {"yes": 1}}, "include_files"),
        ({"pipe_ref": "greet"}, "mthds_contents"),
        ({"files": {"hello.mthds": HELLO}, "mthds_contents": [HELLO]}, "mthds_contents"),
        ({"files": "hello"}, "files"),
    ],
)
async def test_a_malformed_request_is_refused_naming_its_field(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    problem = assert_problem(await client.post("/v1/pipe-io", json=body), 422, "request.invalid")
    assert problem["params"]["field"] == field


async def test_a_body_that_is_no_json_object_and_a_method_ref_are_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/pipe-io", content=b"[1, 2]", headers={"content-type": "application/json"}
    )
    assert_problem(response, 422, "request.invalid")
    response = await client.post("/v1/pipe-io", json={"method_ref": "github.com/acme/methods"})
    assert assert_problem(response, 422, "request.unsupported")["params"]["field"] == "method_ref"
    # A tree without a bundle (the reference says `method.package_invalid` here; this service's tree reader
    # refuses it as a bad `files` field).
    response = await client.post("/v1/pipe-io", json={"files": {"notes.txt": "no bundle here"}})
    assert assert_problem(response, 422, "request.invalid")["params"]["field"] == "files"


async def test_the_route_is_authenticated_and_documented() -> None:
    settings = ApiSettings(auth_mode=AuthMode.API_KEY, api_key=SecretStr("pipe-io-key"))
    async with asgi_client(settings) as client:
        body = {"files": {"hello.mthds": HELLO}}
        assert_problem(await client.post("/v1/pipe-io", json=body), 401, "auth.missing_credential")
        granted = await client.post("/v1/pipe-io", json=body, headers={"Authorization": "Bearer pipe-io-key"})
        assert granted.status_code == 200
        operation = (await client.get("/openapi.json")).json()["paths"]["/v1/pipe-io"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert {"files", "mthds_contents", "pipe_ref", "all_pipes", "include_files"} <= set(schema["properties"])
    assert "x-mthds-protocol" not in json.dumps(operation)
