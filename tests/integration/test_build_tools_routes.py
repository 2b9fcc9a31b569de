"""`POST /v1/build/inputs`, `/v1/build/output`, `/v1/build/runner` and their legacy aliases (http-api.md §11.2-§11.4, §12).

The generated runner is run for real: a subprocess executes it against the service served on loopback
with a worker on the Temporal dev server, for each of its three clients, and its printed output is the
pipe's. The reference serves none of these routes, so nothing here is compared with it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from pydantic import BaseModel, SecretStr, TypeAdapter

from api.auth import AuthMode
from api.settings import ApiSettings
from tests.helpers.api_server import asgi_client, assert_problem
from tests.helpers.run_stack import run_stack
from tests.integration.test_pipe_io_route import HELLO, NO_MAIN
from tests.unit.test_input_forms import FORMS_BUNDLE

ORIGIN = "http://methodflow.test"  # the base URL of `asgi_client`
ROUTES = ("/v1/build/inputs", "/v1/build/output", "/v1/build/runner")
LEGACY = {"/api/v1/build/inputs": "/v1/build/inputs", "/api/v1/build/output": "/v1/build/output"}
API_KEY = "runner-key"
WELCOME_TEMPLATE = {"guest": "text_value", "message": "Hello, text_value! Your run is durable."}
WELCOME_ADA = {"guest": "Ada", "message": "Hello, Ada! Your run is durable."}
SCRIPT_SECONDS = 120
# Two structures naming each other (and one itself): the generated models must still build.
LOOP = """domain = "loop"

[concept.A]
description = "An A"

[concept.A.structure]
b = { type = "concept", concept_ref = "B", description = "Its B" }
more = { type = "list", item_type = "concept", item_concept_ref = "A", description = "More of them" }

[concept.B]
description = "A B"

[concept.B.structure]
a = { type = "concept", concept_ref = "A", description = "Its A" }

[pipe.make]
description = "Makes an A"
output = "A"
"""


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client() as client:
        yield client


async def _answer(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    answer: dict[str, Any] = response.json()
    return answer


# --- /v1/build/inputs ----------------------------------------------------------------------------


async def test_inputs_default_to_the_light_json_template_of_the_main_pipe(client: httpx.AsyncClient) -> None:
    answer = await _answer(client, "/v1/build/inputs", {"files": {"hello.mthds": HELLO}})
    assert answer == {
        "is_valid": True,
        "pipe_ref": "hello.welcome",
        "format": "json",
        "explicit": False,
        "inputs": {"name": "text_value"},
        "message": "Inputs template generated successfully",
    }


async def test_inputs_explicit_and_toml(client: httpx.AsyncClient) -> None:
    explicit = await _answer(client, "/v1/build/inputs", {"mthds_contents": [HELLO], "explicit": True})
    assert explicit["inputs"] == {"name": {"concept": "native.Text", "content": {"text": "text_value"}}}
    toml = await _answer(
        client, "/v1/build/inputs", {"mthds_content": HELLO, "format": "toml", "pipe_code": "wrap"}
    )
    assert toml == {
        "is_valid": True,
        "pipe_ref": "hello.wrap",
        "requested_pipe_ref": "wrap",
        "format": "toml",
        "explicit": False,
        "inputs_toml": '# concept: native.Text\nname = "text_value"\n# concept: native.Text\ngreeting = "text_value"\n',
        "message": "Inputs template generated successfully",
    }
    tables = await _answer(
        client,
        "/v1/build/inputs",
        {"plx_content": HELLO, "format": "toml", "explicit": True, "pipe_ref": "greet"},
    )
    assert tables["inputs_toml"] == '[name]\nconcept = "native.Text"\n\n[name.content]\ntext = "text_value"\n'
    assert "inputs" not in tables


async def test_inputs_of_a_pipe_without_inputs_are_empty(client: httpx.AsyncClient) -> None:
    answer = await _answer(
        client, "/v1/build/inputs", {"files": {"f.mthds": FORMS_BUNDLE}, "pipe_ref": "make_verdict"}
    )
    assert answer["inputs"] == {}
    assert answer["pipe_ref"] == "rich.make_verdict"


# --- /v1/build/output ----------------------------------------------------------------------------


async def test_output_schema_example_and_python_agree(client: httpx.AsyncClient) -> None:
    methods = {"hello": HELLO, "rich": FORMS_BUNDLE, "loop": LOOP}
    for pipe_ref in ("hello.welcome", "rich.make_addr", "rich.make_verdicts", "rich.make_emp", "loop.make"):
        body = {"files": {"method.mthds": methods[pipe_ref.partition(".")[0]]}, "pipe_ref": pipe_ref}
        schema = await _answer(client, "/v1/build/output", body)
        example = await _answer(client, "/v1/build/output", {**body, "format": "json"})
        python = await _answer(client, "/v1/build/output", {**body, "format": "python"})
        assert list(schema) == ["is_valid", "pipe_ref", "requested_pipe_ref", "format", "output", "message"]
        assert schema["output"]["concept"] == example["output"]["concept"]
        jsonschema.validate(example["output"]["content"], schema["output"]["content"])
        assert list(python) == [
            "is_valid",
            "pipe_ref",
            "requested_pipe_ref",
            "format",
            "output_python",
            "message",
        ]
        namespace: dict[str, Any] = {"__name__": "generated_output"}
        # `dont_inherit`: compiled as its own file, not under this module's `from __future__` flags.
        exec(compile(python["output_python"], "generated_output.py", "exec", dont_inherit=True), namespace)  # noqa: S102 - our own generated source
        output_type: Any = namespace["Output"]
        parsed = TypeAdapter(output_type).validate_python(example["output"]["content"])
        assert isinstance(parsed, BaseModel)
        # The example fills every member; only where the schema stops (a cycle) are members left out.
        assert (
            parsed.model_dump(mode="json", by_alias=True, exclude_none=True) == example["output"]["content"]
        )


async def test_output_of_the_welcome(client: httpx.AsyncClient) -> None:
    example = await _answer(client, "/v1/build/output", {"files": {"hello.mthds": HELLO}, "format": "json"})
    assert example == {
        "is_valid": True,
        "pipe_ref": "hello.welcome",
        "format": "json",
        "output": {
            "concept": "hello.Welcome",
            "content": {"guest": "guest_value", "message": "message_value"},
        },
        "message": "Output description generated successfully",
    }
    plural = await _answer(
        client, "/v1/build/output", {"files": {"f.mthds": FORMS_BUNDLE}, "pipe_ref": "make_pair"}
    )
    items = plural["output"]["content"]["properties"]["items"]
    assert (items["type"], items["minItems"], items["maxItems"]) == ("array", 2, 2)


@pytest.mark.parametrize("value", ["JSON", "yaml", "", 3, None])
async def test_output_refuses_an_unknown_format(client: httpx.AsyncClient, value: object) -> None:
    response = await client.post("/v1/build/output", json={"files": {"hello.mthds": HELLO}, "format": value})
    assert assert_problem(response, 422, "request.invalid")["params"]["field"] == "format"


# --- /v1/build/runner ----------------------------------------------------------------------------


async def test_runner_defaults_to_the_mthds_client_and_the_requests_origin(client: httpx.AsyncClient) -> None:
    answer = await _answer(client, "/v1/build/runner", {"files": {"hello.mthds": HELLO}})
    assert list(answer) == ["is_valid", "pipe_ref", "client", "python_code", "message"]
    assert (answer["client"], answer["message"]) == ("mthds", "Runner code generated successfully")
    code = answer["python_code"]
    compile(code, "runner.py", "exec")
    assert f'or "{ORIGIN}"' in code
    assert "MthdsAPIClient" in code
    assert 'PIPE_REF = "hello.welcome"' in code


async def test_runner_takes_the_public_base_url_then_the_requests_one() -> None:
    async with asgi_client(ApiSettings(public_base_url="https://flows.example.com")) as client:
        body = {"files": {"hello.mthds": HELLO}, "client": "httpx"}
        configured = await _answer(client, "/v1/build/runner", body)
        assert 'or "https://flows.example.com"' in configured["python_code"]
        given = await _answer(client, "/v1/build/runner", {**body, "base_url": "http://127.0.0.1:9000/"})
        assert 'or "http://127.0.0.1:9000"' in given["python_code"]


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"client": "requests"}, "client"),
        ({"client": "MTHDS"}, "client"),
        ({"base_url": "ftp://files.example.com"}, "base_url"),
        ({"base_url": "not a url"}, "base_url"),
        ({"base_url": ""}, "base_url"),
        ({"pipe_ref": ""}, "pipe_ref"),
        ({"pipe_code": "p" * 257}, "pipe_code"),
    ],
)
async def test_runner_refuses_a_bad_field(
    client: httpx.AsyncClient, extra: dict[str, Any], field: str
) -> None:
    response = await client.post("/v1/build/runner", json={"files": {"hello.mthds": HELLO}, **extra})
    assert assert_problem(response, 422, "request.invalid")["params"]["field"] == field


# --- common to the three ------------------------------------------------------------------------


@pytest.mark.parametrize("path", [*ROUTES, *LEGACY])
async def test_an_invalid_method_is_the_200_invalid_arm(client: httpx.AsyncClient, path: str) -> None:
    answer = await _answer(client, path, {"files": {"hello.mthds": HELLO.replace('= "Text"', '= "Txt"', 1)}})
    assert list(answer) == ["is_valid", "errors", "message"]
    assert {item["code"] for item in answer["errors"]} == {"method.concept_unresolved"}


@pytest.mark.parametrize("path", [*ROUTES, *LEGACY, "/api/v1/pipe-builder/generate-runner"])
async def test_selection_refusals(client: httpx.AsyncClient, path: str) -> None:
    unknown = await client.post(path, json={"files": {"hello.mthds": HELLO}, "pipe_code": "hello.nope"})
    assert assert_problem(unknown, 422, "request.pipe_not_found")["params"]["pipe"] == "hello.nope"
    unspecified = await client.post(path, json={"files": {"hello.mthds": NO_MAIN}})
    problem = assert_problem(unspecified, 422, "request.pipe_unspecified")
    assert problem["params"]["candidates"] == ["hello.greet", "hello.welcome", "hello.wrap"]
    nothing = await client.post(path, json={"pipe_ref": "greet"})
    assert_problem(nothing, 422, "request.invalid")


@pytest.mark.parametrize(("alias", "target"), LEGACY.items())
async def test_legacy_build_aliases_answer_as_their_targets(
    client: httpx.AsyncClient, alias: str, target: str
) -> None:
    body = {"files": {"hello.mthds": HELLO}, "pipe_code": "greet", "format": "json"}
    assert await _answer(client, alias, body) == await _answer(client, target, body)
    bad = await client.post(alias, json={**body, "format": "xml"})
    assert assert_problem(bad, 422, "request.invalid")["params"]["field"] == "format"


async def test_legacy_runner_aliases(client: httpx.AsyncClient) -> None:
    body = {"files": {"hello.mthds": HELLO}, "client": "httpx", "base_url": "http://127.0.0.1:9000"}
    assert await _answer(client, "/api/v1/build/runner", body) == await _answer(
        client, "/v1/build/runner", body
    )
    legacy = await _answer(
        client, "/api/v1/pipe-builder/generate-runner", {"plx_content": HELLO, "pipe_code": "greet"}
    )
    assert legacy["pipe_code"] == legacy["pipe_ref"] == "hello.greet"
    assert legacy["success"] is True
    assert legacy["client"] == "mthds"
    invalid = await _answer(client, "/api/v1/pipe-builder/generate-runner", {"plx_content": "domain = 1\n"})
    assert (invalid["is_valid"], invalid["success"]) == (False, False)


async def test_the_routes_are_authenticated_and_documented() -> None:
    async with asgi_client(ApiSettings(auth_mode=AuthMode.API_KEY, api_key=SecretStr(API_KEY))) as client:
        paths = (await client.get("/openapi.json")).json()["paths"]
        for path in (*ROUTES, *LEGACY, "/api/v1/build/runner", "/api/v1/pipe-builder/generate-runner"):
            assert_problem(
                await client.post(path, json={"plx_content": HELLO}), 401, "auth.missing_credential"
            )
            schema = paths[path]["post"]["requestBody"]["content"]["application/json"]["schema"]
            assert {"files", "mthds_contents", "plx_content", "pipe_ref"} <= set(schema["properties"])
        granted = await client.post(
            "/v1/build/inputs", json={"plx_content": HELLO}, headers={"Authorization": f"Bearer {API_KEY}"}
        )
        assert granted.status_code == 200


# --- the runner, run ------------------------------------------------------------------------------


def _script_env(home: Path, **extra: str) -> dict[str, str]:
    """The test's environment without any client setting of its own, plus `extra`."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("MTHDS_", "PIPELEX_")) and name != "METHODFLOW_URL"
    }
    return {**inherited, "HOME": str(home), **extra}


async def _run_script(script: Path, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    # A subprocess awaited on the loop: the API under test is served by this same event loop.
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), SCRIPT_SECONDS)
    return process.returncode or 0, stdout.decode(), stderr.decode()


@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    ("client_name", "key_variable"),
    [("mthds", "MTHDS_API_KEY"), ("pipelex-sdk", "PIPELEX_API_KEY"), ("httpx", "MTHDS_API_KEY")],
)
async def test_the_generated_runner_runs_the_pipe(
    temporal_address: str, tmp_path: Path, client_name: str, key_variable: str
) -> None:
    overrides = {"auth_mode": AuthMode.API_KEY, "api_key": SecretStr(API_KEY)}
    async with run_stack(temporal_address, tmp_path, api_overrides=overrides) as stack:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        body = {"files": {"hello.mthds": HELLO}, "client": client_name}
        generated = await stack.client.post("/v1/build/runner", json=body, headers=headers)
        assert generated.status_code == 200, generated.text
        code = generated.json()["python_code"]
        assert API_KEY not in code
        script = tmp_path / "run_welcome.py"
        script.write_text(code)

        # As generated: the service it was asked from, the inputs template's placeholder values.
        status, stdout, stderr = await _run_script(script, _script_env(tmp_path, **{key_variable: API_KEY}))
        assert status == 0, stderr
        assert json.loads(stdout) == WELCOME_TEMPLATE

        # Real inputs from a file, and METHODFLOW_URL overriding a base URL that serves nothing.
        elsewhere = await stack.client.post(
            "/v1/build/runner", json={**body, "base_url": "http://127.0.0.1:9"}, headers=headers
        )
        script.write_text(elsewhere.json()["python_code"])
        inputs = tmp_path / "inputs.json"
        inputs.write_text(json.dumps({"name": "Ada"}))
        env = _script_env(tmp_path, **{key_variable: API_KEY, "METHODFLOW_URL": stack.base_url})
        status, stdout, stderr = await _run_script(script, env, str(inputs))
        assert status == 0, stderr
        assert json.loads(stdout) == WELCOME_ADA

        # Without the key the service refuses the script, which fails.
        status, stdout, _ = await _run_script(script, _script_env(tmp_path, METHODFLOW_URL=stack.base_url))
        assert status != 0
        assert stdout == ""
