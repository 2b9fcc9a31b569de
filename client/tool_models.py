"""The answers of the method tooling and the probes as typed models (http-api.md §3, §11): the build
templates, `/v1/resolve`, `/v1/codegen`, `/v1/models/check`, `/health` and `/ready`.

The tooling routes answer 200 with a valid arm or an invalid one, discriminated on `is_valid`: each
model holds both (`errors` and `message` of the invalid arm; the valid arm's members None there).
Unknown members are kept (`extra="allow"`), so a newer service never breaks an older client.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class _Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Verdict(_Answer):
    is_valid: bool
    errors: list[dict[str, Any]] = []
    message: str | None = None


class OutputTemplate(_Verdict):
    """`/v1/build/output`: the pipe's output as a JSON Schema or an example (`output`), or as
    pydantic source (`output_python`), by `format` (`schema`, `json`, `python`)."""

    pipe_ref: str | None = None
    requested_pipe_ref: str | None = None
    format: str | None = None
    output: dict[str, Any] | None = None
    output_python: str | None = None


class RunnerCode(_Verdict):
    """`/v1/build/runner`: a Python script running the pipe against the service (`python_code`)."""

    pipe_ref: str | None = None
    requested_pipe_ref: str | None = None
    client: str | None = None
    python_code: str | None = None


class ResolvedCrate(_Verdict):
    """`/v1/resolve`: the method's library resolved into a crate (concepts, pipes, fingerprint)."""

    crate: dict[str, Any] | None = None


class GeneratedCode(_Verdict):
    """`/v1/codegen`: the types of the method's concepts in one language, with their lock file."""

    kind: str | None = None
    target: str | None = None
    crate_fingerprint: str | None = None
    engine_version: str | None = None
    artifacts: list[dict[str, Any]] = []
    lock: str | None = None
    lock_filename: str | None = None


class ModelCheck(_Answer):
    """`/v1/models/check`: how one model reference resolves in the deck (`resolution`: `resolved`,
    `not_found` with `suggestions`, or `ambiguous`)."""

    reference: str
    kind: str
    name: str
    category: str | None = None
    resolution: str
    matches: list[dict[str, Any]]
    suggestions: list[str] = []
    other_kinds: list[str] = []
    other_categories: list[str] = []


class Health(_Answer):
    """`/health`: the process serves HTTP."""

    status: str
    message: str | None = None


class Readiness(_Answer):
    """`/ready`: Temporal answers (a 503 `runtime.unavailable` otherwise)."""

    status: str
    temporal: str
    unpolled_task_queues: list[str] | None = None
