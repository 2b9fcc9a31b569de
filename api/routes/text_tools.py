"""`POST /v1/lint` and `POST /v1/format` (one bundle text; reference pipelex-api 0.92.2 shapes).

Every text gets a 200, broken TOML included (its faults are diagnostics); only a request that does not
fit the route's schema is a problem. Formatting and linting are CPU work: they run on a worker thread.
"""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.auth import authenticate
from api.deps import ModelDeckDep, SettingsDep
from api.openapi_bodies import request_body
from api.problems import request_invalid
from api.request_body import parse_request, read_json_object
from api.settings import ApiSettings
from shared.language.report import BundleSource
from shared.tooling.mthds_diagnostics import Diagnostic
from shared.tooling.mthds_format import DEFAULT_COLUMN_WIDTH, format_mthds
from shared.tooling.mthds_lint import lint_mthds

# Every route here is authenticated (§3b); the dependency runs before a handler reads the body.
router = APIRouter(tags=["tools"], dependencies=[Depends(authenticate)])


class _TextRequest(BaseModel):
    content: str = Field(description="One .mthds text, at most the service's per-bundle size in UTF-8 bytes.")


class LintRequest(_TextRequest):
    """Body of `POST /v1/lint`; unknown members are ignored."""

    source: str | None = Field(
        default=None, description="Logical file name of the text; accepted, not echoed in diagnostics."
    )
    companions: dict[str, str] | None = Field(
        default=None,
        description=(
            "Methodflow extension: the other bundles of the same method, path -> text. The text is validated "
            "with them, so what they declare resolves; their own faults are not reported. Without them the "
            "text is judged as a whole method, and names only a sibling file declares are unresolved."
        ),
    )


class FormatOptions(BaseModel):
    """Formatter options; an unknown option is refused."""

    model_config = ConfigDict(extra="forbid")

    # Strict: "20", 20.0 and true are refused rather than read as numbers.
    column_width: int | None = Field(
        default=None,
        gt=0,
        strict=True,
        description=f"Width past which an array is written one item per line (default {DEFAULT_COLUMN_WIDTH}).",
    )


class FormatRequest(_TextRequest):
    """Body of `POST /v1/format`; unknown members are ignored."""

    options: FormatOptions | None = Field(default=None, description="Formatter options, e.g. `column_width`.")


class LintAnswer(BaseModel):
    """The diagnostics of the text, in order: none when it is clean."""

    diagnostics: list[Diagnostic]


class FormatAnswer(BaseModel):
    """The formatted text (the input itself when it is not valid TOML), whether it changed, and why not."""

    formatted: str
    changed: bool
    diagnostics: list[Diagnostic]


def _bounded(content: str, settings: ApiSettings) -> str:
    size = len(content.encode("utf-8"))
    if size > settings.max_mthds_file_bytes:
        raise request_invalid(
            field="content",
            reason=f"the text is {size} bytes; this service accepts at most {settings.max_mthds_file_bytes}.",
        )
    return content


def _companions(texts: dict[str, str], settings: ApiSettings) -> list[BundleSource]:
    if len(texts) >= settings.max_mthds_files_per_request:
        raise request_invalid(
            field="companions",
            reason=f"a method of at most {settings.max_mthds_files_per_request} bundles is linted at once.",
        )
    for text in texts.values():
        if len(text.encode("utf-8")) > settings.max_mthds_file_bytes:
            raise request_invalid(
                field="companions",
                reason=f"each bundle may have at most {settings.max_mthds_file_bytes} bytes.",
            )
    return [BundleSource(path=path, text=text) for path, text in texts.items()]


@router.post("/v1/lint", response_model=LintAnswer, openapi_extra={"requestBody": request_body(LintRequest)})
async def lint(request: Request, settings: SettingsDep, deck: ModelDeckDep) -> LintAnswer:
    """Lint one .mthds text: TOML syntax, duplicate keys, bundle shape and MTHDS validation, with ranges."""
    fields = parse_request(LintRequest, await read_json_object(request))
    content = _bounded(fields.content, settings)
    companions = _companions(fields.companions or {}, settings)
    diagnostics = await run_in_threadpool(
        partial(lint_mthds, content, deck, source=fields.source, companions=companions)
    )
    return LintAnswer(diagnostics=diagnostics)


@router.post(
    "/v1/format", response_model=FormatAnswer, openapi_extra={"requestBody": request_body(FormatRequest)}
)
async def format_text(request: Request, settings: SettingsDep) -> FormatAnswer:
    """Format one .mthds text, keeping its comments; broken TOML comes back unchanged with diagnostics."""
    fields = parse_request(FormatRequest, await read_json_object(request))
    content = _bounded(fields.content, settings)
    options = fields.options or FormatOptions()
    width = options.column_width or DEFAULT_COLUMN_WIDTH
    outcome = await run_in_threadpool(format_mthds, content, column_width=width)
    return FormatAnswer(
        formatted=outcome.formatted, changed=outcome.changed, diagnostics=list(outcome.diagnostics)
    )
