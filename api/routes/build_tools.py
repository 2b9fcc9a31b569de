"""`POST /v1/build/inputs`, `/v1/build/output`, `/v1/build/runner` and their legacy aliases (http-api.md §11.2 to §11.4, §12).

Each reads a method as `/v1/validate` does plus a pipe selector (`pipe_ref`, alias `pipe_code`; default
the `main_pipe`). An invalid method is the 200 invalid arm; a selection that finds no pipe a 422.
Valid arms echo the qualified `pipe_ref`, and `requested_pipe_ref` when the request named one.
The reference (pipelex-api 0.92.2) serves none of these: http-api.md §11 is their whole contract.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import AliasChoices, BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.auth import authenticate
from api.crate_request import CrateMethodFields, invalid_arm, read_crate_sources, request_fields, validated
from api.deps import ModelDeckDep, SettingsDep, public_origin
from api.method_source import MethodBlobsDep
from api.openapi_bodies import request_body
from api.problems import request_invalid
from api.routes.meta import IMPLEMENTATION_VERSION
from api.routes.pipe_io import MAX_PIPE_REF_CHARS, CrateInvalid, describable_pipe
from api.settings import ApiSettings
from shared.language.model_deck import ModelDeck
from shared.language.report import BundleSource, ValidationReport
from shared.storage.method_blobs import MethodBlobs
from shared.tooling.input_forms import input_form
from shared.tooling.inputs_template import inputs_template, inputs_template_toml
from shared.tooling.output_example import output_example, output_python, output_schema
from shared.tooling.runner_code import RunnerClient, runner_code

# Every route here is authenticated (§3b); the dependency runs before a handler reads the body.
router = APIRouter(tags=["build"], dependencies=[Depends(authenticate)])

INPUTS_MESSAGE = "Inputs template generated successfully"
OUTPUT_MESSAGE = "Output description generated successfully"
RUNNER_MESSAGE = "Runner code generated successfully"
MAX_BASE_URL_CHARS = 2048


class BuildRequest(CrateMethodFields):
    """The method and the pipe a build tool works on."""

    pipe_ref: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_PIPE_REF_CHARS,
        validation_alias=AliasChoices("pipe_ref", "pipe_code"),
        description="`domain.pipe_code` or a bare code (alias `pipe_code`); default the method's `main_pipe`.",
    )


class InputsRequest(BuildRequest):
    format: Literal["json", "toml"] = Field(default="json", description="`json` (default) or `toml`.")
    explicit: bool = Field(
        default=False,
        description='Every input as `{concept, content}` (default false: light values such as `"text_value"`).',
    )


class OutputRequest(BuildRequest):
    format: Literal["schema", "json", "python"] = Field(
        default="schema",
        description="`schema` (JSON Schema, default), `json` (an example) or `python` (pydantic).",
    )


class RunnerRequest(BuildRequest):
    client: Literal["mthds", "pipelex-sdk", "httpx"] = Field(
        default="mthds",
        description="`mthds` (MthdsAPIClient, default), `pipelex-sdk` (PipelexAPIClient.start_and_wait) "
        "or `httpx` (plain HTTP, no SDK; an extension).",
    )
    base_url: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_BASE_URL_CHARS,
        description="The service URL the script calls (default `PUBLIC_BASE_URL`, else this request's origin); "
        "the script's `METHODFLOW_URL` environment variable overrides it.",
    )


class BuildValid(BaseModel):
    is_valid: Literal[True] = True
    pipe_ref: str = Field(description="The selected pipe, qualified.")
    requested_pipe_ref: str | None = Field(
        default=None, description="The selector as sent; absent when defaulted."
    )
    message: str


class InputsValid(BuildValid):
    format: Literal["json", "toml"]
    explicit: bool
    inputs: dict[str, Any] | None = Field(default=None, description="With `format: json`.")
    inputs_toml: str | None = Field(default=None, description="With `format: toml`.")


class OutputValid(BuildValid):
    format: Literal["schema", "json", "python"]
    output: dict[str, Any] | None = Field(
        default=None, description="`{concept, content}`, for `schema` and `json`."
    )
    output_python: str | None = Field(default=None, description="Pydantic source, for `python`.")


class RunnerValid(BuildValid):
    client: Literal["mthds", "pipelex-sdk", "httpx"]
    python_code: str = Field(description="A script that runs the pipe on this service and prints its output.")


class LegacyRunnerValid(RunnerValid):
    pipe_code: str
    success: bool


def _body(model: type[BaseModel]) -> dict[str, Any]:
    return {"requestBody": request_body(model)}


Artifact = Callable[[ValidationReport, str, Any, list[BundleSource]], dict[str, Any]]


async def _build(
    fields: BuildRequest, settings: ApiSettings, deck: ModelDeck, blobs: MethodBlobs, artifact: Artifact
) -> dict[str, Any]:
    """The answer of a build tool: the invalid arm, or the selection and what `artifact` makes of it."""
    sources = await read_crate_sources(fields, settings, blobs)
    report = await validated(sources, deck, dry_run=True)
    if not report.is_valid:
        return invalid_arm(report)
    pipe_ref = describable_pipe(report, fields.pipe_ref)
    head: dict[str, Any] = {"is_valid": True, "pipe_ref": pipe_ref}
    if fields.pipe_ref is not None:
        head["requested_pipe_ref"] = fields.pipe_ref
    return head | await run_in_threadpool(artifact, report, pipe_ref, fields, sources)


def _form(report: ValidationReport, pipe_ref: str) -> dict[str, Any]:
    if report.library is None:
        msg = "a valid report carries its library"
        raise ValueError(msg)
    contracts = {pipe_ref: report.pipe_io_contracts[pipe_ref]}
    return input_form(report.library, report.bundle_blueprints, contracts)[pipe_ref]


def _inputs(
    report: ValidationReport, pipe_ref: str, fields: InputsRequest, _: list[BundleSource]
) -> dict[str, Any]:
    form = _form(report, pipe_ref)
    if fields.format == "toml":
        template: dict[str, Any] = {"inputs_toml": inputs_template_toml(form, explicit=fields.explicit)}
    else:
        template = {"inputs": inputs_template(form, explicit=fields.explicit)}
    return {"format": fields.format, "explicit": fields.explicit, **template, "message": INPUTS_MESSAGE}


def _output(
    report: ValidationReport, pipe_ref: str, fields: OutputRequest, _: list[BundleSource]
) -> dict[str, Any]:
    output = report.pipe_io_contracts[pipe_ref]["output"]
    if fields.format == "python":
        if report.library is None:
            msg = "a valid report carries its library"
            raise ValueError(msg)
        described: dict[str, Any] = {"output_python": output_python(report.library, output, pipe_ref)}
    else:
        content = output_schema(output) if fields.format == "schema" else output_example(output)
        described = {"output": {"concept": output["concept_ref"], "content": content}}
    return {"format": fields.format, **described, "message": OUTPUT_MESSAGE}


def _runner(base_url: str) -> Artifact:
    def runner(
        report: ValidationReport, pipe_ref: str, fields: RunnerRequest, sources: list[BundleSource]
    ) -> dict[str, Any]:
        code = runner_code(
            client=RunnerClient(fields.client),
            base_url=base_url,
            pipe_ref=pipe_ref,
            files={source.path: source.text for source in sources},
            inputs=inputs_template(_form(report, pipe_ref), explicit=False),
            service=f"methodflow {IMPLEMENTATION_VERSION}",
        )
        return {"client": fields.client, "python_code": code, "message": RUNNER_MESSAGE}

    return runner


async def _runner_answer(
    request: Request, settings: ApiSettings, deck: ModelDeck, blobs: MethodBlobs
) -> dict[str, Any]:
    fields = await request_fields(request, RunnerRequest)
    base_url = fields.base_url or public_origin(request, settings)
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise request_invalid(field="base_url", reason="an absolute http(s) URL is required.")
    return await _build(fields, settings, deck, blobs, _runner(base_url.rstrip("/")))


@router.post(
    "/v1/build/inputs", response_model=InputsValid | CrateInvalid, openapi_extra=_body(InputsRequest)
)
@router.post(
    "/api/v1/build/inputs", response_model=InputsValid | CrateInvalid, openapi_extra=_body(InputsRequest)
)
async def build_inputs(
    request: Request, settings: SettingsDep, deck: ModelDeckDep, blobs: MethodBlobsDep
) -> JSONResponse:
    """The inputs template of a pipe, JSON or TOML, light or explicit."""
    fields = await request_fields(request, InputsRequest)
    return JSONResponse(await _build(fields, settings, deck, blobs, _inputs))


@router.post(
    "/v1/build/output", response_model=OutputValid | CrateInvalid, openapi_extra=_body(OutputRequest)
)
@router.post(
    "/api/v1/build/output", response_model=OutputValid | CrateInvalid, openapi_extra=_body(OutputRequest)
)
async def build_output(
    request: Request, settings: SettingsDep, deck: ModelDeckDep, blobs: MethodBlobsDep
) -> JSONResponse:
    """The output of a pipe as a JSON Schema, an example value or pydantic source."""
    fields = await request_fields(request, OutputRequest)
    return JSONResponse(await _build(fields, settings, deck, blobs, _output))


@router.post(
    "/v1/build/runner", response_model=RunnerValid | CrateInvalid, openapi_extra=_body(RunnerRequest)
)
@router.post(
    "/api/v1/build/runner", response_model=RunnerValid | CrateInvalid, openapi_extra=_body(RunnerRequest)
)
async def build_runner(
    request: Request, settings: SettingsDep, deck: ModelDeckDep, blobs: MethodBlobsDep
) -> JSONResponse:
    """A Python script that runs a pipe on this service and prints its main output."""
    return JSONResponse(await _runner_answer(request, settings, deck, blobs))


@router.post(
    "/api/v1/pipe-builder/generate-runner",
    response_model=LegacyRunnerValid | CrateInvalid,
    openapi_extra=_body(RunnerRequest),
)
async def legacy_generate_runner(
    request: Request, settings: SettingsDep, deck: ModelDeckDep, blobs: MethodBlobsDep
) -> JSONResponse:
    """Legacy alias of `POST /v1/build/runner` (body `{plx_content, pipe_code}`), adding `pipe_code` and `success`."""
    body = await _runner_answer(request, settings, deck, blobs)
    if body["is_valid"]:
        body["pipe_code"] = body["pipe_ref"]
    body["success"] = body["is_valid"]
    return JSONResponse(body)
