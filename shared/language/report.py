"""What validating a library answers: the verdict, every issue, and what a valid library offers. Pure."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.language.issues import Issue
from shared.language.library import Library


class BundleSource(BaseModel):
    """One bundle text and the logical path it came from (a `files` tree path or `bundle_<n>.mthds`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    text: str


class PipeStatus(StrEnum):
    """Outcome of one pipe in the validation sweep."""

    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    SKIPPED = "SKIPPED"


class ValidatedPipe(BaseModel):
    """One entry of `validated_pipes`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pipe_ref: str
    status: PipeStatus


class ValidationReport(BaseModel):
    """The verdict over a set of bundles validated together as one library.

    `bundle_blueprints` and `pipe_io_contracts` are JSON-ready dicts in the reference's wire shapes,
    filled only when parsing (resp. the whole validation) succeeded.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    issues: tuple[Issue, ...] = ()
    warnings: tuple[Issue, ...] = ()
    pending_signatures: tuple[str, ...] = ()
    validated_pipes: tuple[ValidatedPipe, ...] = ()
    bundle_blueprints: tuple[dict[str, Any], ...] = ()
    pipe_io_contracts: dict[str, dict[str, Any]] = {}
    default_pipe_ref: str | None = None
    # The assembled library, for running it; set once every static stage passed.
    library: Library | None = Field(default=None, exclude=True, repr=False)

    @property
    def is_valid(self) -> bool:
        return not self.issues

    @property
    def is_runnable(self) -> bool:
        return self.is_valid and not self.pending_signatures
