"""`POST /v1/resolve` and `POST /v1/codegen` (reference pipelex-api 0.92.2 shapes, http-api.md §11.5).

`/v1/resolve` answers the method's resolved library as a crate (`shared/tooling/crate_json.py`);
`/v1/codegen` answers the types of its concepts in one target language, stamped, with their lock
(`shared/tooling/codegen_*.py`). A method that does not validate is a 200 invalid arm on both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.auth import authenticate
from api.crate_request import CrateMethodFields, invalid_arm, read_crate_sources, request_fields, validated
from api.deps import ModelDeckDep, SettingsDep
from api.method_source import MethodBlobsDep
from api.openapi_bodies import request_body
from api.problems import ProblemError, request_invalid
from api.routes.meta import IMPLEMENTATION_VERSION
from shared.language.report import ValidationReport
from shared.problems.catalogue import ProblemCode
from shared.tooling.codegen_python import python_pydantic, python_structures
from shared.tooling.codegen_stamp import LOCK_FILENAME, Artifact, stamped
from shared.tooling.codegen_ts import ts_zod
from shared.tooling.crate_json import resolved_crate

# Every route here is authenticated (§3b); the dependency runs before a handler reads the body.
router = APIRouter(tags=["tooling"], dependencies=[Depends(authenticate)])

RESOLVED_MESSAGE = "MTHDS library resolved successfully"
GENERATED_MESSAGE = "Codegen artifacts generated successfully"
CodegenKind = Literal["types"]
CodegenTarget = Literal["python-pydantic", "python-structures", "ts-zod"]
_GENERATORS: dict[str, Callable[[dict[str, Any]], list[Artifact]]] = {
    "python-pydantic": python_pydantic,
    "python-structures": python_structures,
    "ts-zod": ts_zod,
}
_AXIS_REASONS = {
    "kind": "'kind' is required and must be 'types', the only kind of code this service generates.",
    "target": "'target' is required and must be one of "
    + ", ".join(f"'{name}'" for name in _GENERATORS)
    + ".",
}


class ResolveRequest(CrateMethodFields):
    """The method to resolve; other members (such as `pipe_ref`) are ignored."""


class CodegenRequest(CrateMethodFields):
    """The method and what to generate from it."""

    kind: CodegenKind = Field(description="What to generate: 'types', the types of the method's concepts.")
    target: CodegenTarget = Field(
        description="The language: 'python-pydantic' (models.py), 'python-structures' (structures.py) "
        "or 'ts-zod' (types.ts and binder.ts)."
    )
    pipe_ref: str | None = Field(
        default=None, description="Refused with kind 'types', which covers every concept of the method."
    )


class CrateInvalidReport(BaseModel):
    """The method does not validate: every fault found, together."""

    is_valid: Literal[False] = False
    errors: list[dict[str, Any]] = Field(description="Problem items: code, detail, params, location.")
    message: str


class Crate(BaseModel):
    """The resolved library: every reference fully qualified, maps sorted by key."""

    mthds_version: str
    concepts: dict[str, dict[str, Any]] = Field(description="Concepts by ref, the natives used included.")
    pipes: dict[str, dict[str, Any]] = Field(description="Pipe blueprints by ref.")
    domains: dict[str, dict[str, Any]] = Field(description="Domain headers by code.")
    source_map: dict[str, str] = Field(description="The bundle path of each concept and pipe ref.")
    fingerprint: str = Field(
        description="SHA-256 hex of the canonical JSON of {concepts, pipes, domains} (sorted keys, no "
        "whitespace, UTF-8); source_map is left out, so renaming a file keeps it."
    )


class ResolveAnswer(BaseModel):
    """The method's resolved crate."""

    is_valid: Literal[True] = True
    crate: Crate
    message: str = RESOLVED_MESSAGE


class CodegenArtifactBody(BaseModel):
    """One generated file, stamp block first."""

    path: str
    content: str


class CodegenAnswer(BaseModel):
    """The generated files and their lock (write `lock` as `lock_filename` beside them)."""

    is_valid: Literal[True] = True
    kind: CodegenKind
    target: CodegenTarget
    crate_fingerprint: str
    engine_version: str = Field(description="This service's version, which generated the files.")
    artifacts: list[CodegenArtifactBody]
    lock: str = Field(description="TOML: lock_version, crate_fingerprint, engine_version, [[artifacts]].")
    lock_filename: str = LOCK_FILENAME
    message: str = GENERATED_MESSAGE


@router.post(
    "/v1/resolve",
    response_model=ResolveAnswer | CrateInvalidReport,
    openapi_extra={"requestBody": request_body(ResolveRequest)},
)
async def resolve(
    request: Request, settings: SettingsDep, deck: ModelDeckDep, blobs: MethodBlobsDep
) -> JSONResponse:
    """Resolve a method into its crate: 200 with `is_valid` true and the crate, or false and the errors."""
    fields = await request_fields(request, ResolveRequest)
    report = await validated(await read_crate_sources(fields, settings, blobs), deck, dry_run=False)
    if not report.is_valid:
        return JSONResponse(invalid_arm(report))
    # Building the crate walks the whole library: a worker thread keeps the event loop answering.
    crate = await run_in_threadpool(resolved_crate, report)
    return JSONResponse({"is_valid": True, "crate": crate, "message": RESOLVED_MESSAGE})


@router.post(
    "/v1/codegen",
    response_model=CodegenAnswer | CrateInvalidReport,
    openapi_extra={"requestBody": request_body(CodegenRequest)},
)
async def codegen(
    request: Request, settings: SettingsDep, deck: ModelDeckDep, blobs: MethodBlobsDep
) -> JSONResponse:
    """Generate the types of a method's concepts in one language, stamped, with their lock."""
    fields = await _codegen_fields(request)
    if fields.pipe_ref is not None:
        raise request_invalid(
            field="pipe_ref",
            reason="kind 'types' covers every concept of the method and takes no 'pipe_ref'.",
        )
    report = await validated(await read_crate_sources(fields, settings, blobs), deck, dry_run=False)
    if not report.is_valid:
        return JSONResponse(invalid_arm(report))
    body = await run_in_threadpool(_generated, report, fields.kind, fields.target)
    return JSONResponse(body)


async def _codegen_fields(request: Request) -> CodegenRequest:
    """The request, a bad `kind` or `target` refused with the values accepted."""
    try:
        return await request_fields(request, CodegenRequest)
    except ProblemError as refused:
        field = refused.params.get("field")
        if refused.code is ProblemCode.REQUEST_INVALID and field in _AXIS_REASONS:
            raise request_invalid(field=field, reason=_AXIS_REASONS[field]) from refused
        raise


def _generated(report: ValidationReport, kind: str, target: str) -> dict[str, Any]:
    crate = resolved_crate(report)
    projection = stamped(
        _GENERATORS[target](crate),
        crate_fingerprint=crate["fingerprint"],
        engine_version=IMPLEMENTATION_VERSION,
        kind=kind,
        target=target,
    )
    return {
        "is_valid": True,
        "kind": kind,
        "target": target,
        "crate_fingerprint": crate["fingerprint"],
        "engine_version": IMPLEMENTATION_VERSION,
        "artifacts": [
            {"path": artifact.path, "content": artifact.content} for artifact in projection.artifacts
        ],
        "lock": projection.lock,
        "lock_filename": LOCK_FILENAME,
        "message": GENERATED_MESSAGE,
    }
