"""The method and tooling routes (validate, pipe-io, build, resolve, codegen, format, lint, models) as
`client.calls` requests built from the client method's own arguments, shared by the sync and the async
client. Pure: nothing here touches the network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from client import calls
from client.models import Formatted, LintReport, ModelDeck, ValidationVerdict
from client.tool_models import GeneratedCode, ModelCheck, OutputTemplate, ResolvedCrate, RunnerCode


def validate(
    mthds_contents: Sequence[str] | None, files: Mapping[str, Any] | None, extra: Mapping[str, Any]
) -> calls.Call[ValidationVerdict]:
    return calls.verdict("/v1/validate", calls.method_source(mthds_contents, files, extra))


def pipe_io(
    mthds_contents: Sequence[str] | None,
    files: Mapping[str, Any] | None,
    pipe_ref: str | None,
    extra: Mapping[str, Any],
) -> calls.Call[ValidationVerdict]:
    return calls.verdict("/v1/pipe-io", _pipe_source(mthds_contents, files, pipe_ref, extra))


def _pipe_source(
    mthds_contents: Sequence[str] | None,
    files: Mapping[str, Any] | None,
    pipe_ref: str | None,
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    """The body of a tool about one pipe of the method (`pipe_ref`: None for the main pipe)."""
    return calls.method_source(mthds_contents, files, {"pipe_ref": pipe_ref, **extra})


def build_pipeline(brief: str, extra: Mapping[str, Any]) -> calls.Call[ValidationVerdict]:
    return calls.verdict("/v1/build/pipeline", {"brief": brief, **extra}, timeout=calls.BUILD_TIMEOUT)


def build_inputs(
    mthds_contents: Sequence[str] | None,
    files: Mapping[str, Any] | None,
    pipe_ref: str | None,
    extra: Mapping[str, Any],
) -> calls.Call[ValidationVerdict]:
    return calls.verdict("/v1/build/inputs", _pipe_source(mthds_contents, files, pipe_ref, extra))


def build_output(
    mthds_contents: Sequence[str] | None,
    files: Mapping[str, Any] | None,
    pipe_ref: str | None,
    extra: Mapping[str, Any],
) -> calls.Call[OutputTemplate]:
    body = _pipe_source(mthds_contents, files, pipe_ref, extra)
    return calls.model_call("POST", "/v1/build/output", OutputTemplate, body)


def build_runner(
    mthds_contents: Sequence[str] | None,
    files: Mapping[str, Any] | None,
    pipe_ref: str | None,
    extra: Mapping[str, Any],
) -> calls.Call[RunnerCode]:
    body = _pipe_source(mthds_contents, files, pipe_ref, extra)
    return calls.model_call("POST", "/v1/build/runner", RunnerCode, body)


def resolve(
    mthds_contents: Sequence[str] | None, files: Mapping[str, Any] | None, extra: Mapping[str, Any]
) -> calls.Call[ResolvedCrate]:
    return calls.model_call(
        "POST", "/v1/resolve", ResolvedCrate, calls.method_source(mthds_contents, files, extra)
    )


def codegen(
    target: str,
    mthds_contents: Sequence[str] | None,
    files: Mapping[str, Any] | None,
    kind: str,
    extra: Mapping[str, Any],
) -> calls.Call[GeneratedCode]:
    body = calls.method_source(mthds_contents, files, {"kind": kind, "target": target, **extra})
    return calls.model_call("POST", "/v1/codegen", GeneratedCode, body)


def format_content(content: str, source: str | None) -> calls.Call[Formatted]:
    return calls.model_call("POST", "/v1/format", Formatted, _content(content, source))


def lint(content: str, source: str | None) -> calls.Call[LintReport]:
    return calls.model_call("POST", "/v1/lint", LintReport, _content(content, source))


def _content(content: str, source: str | None) -> dict[str, Any]:
    return {"content": content, **({"source": source} if source else {})}


def models(model_type: str | None) -> calls.Call[ModelDeck]:
    params = {"type": model_type} if model_type else None
    return calls.model_call("GET", "/v1/models", ModelDeck, params=params)


def model_check(reference: str, model_type: str | None) -> calls.Call[ModelCheck]:
    params = {"reference": reference, **({"type": model_type} if model_type else {})}
    return calls.model_call("GET", "/v1/models/check", ModelCheck, params=params)
