"""How a pipe is called and how a run is set up: call sites, run options, progress listeners. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from shared.language.natives import NATIVE_DOMAIN

TEXT = f"{NATIVE_DOMAIN}.Text"
MAX_DEPTH = 20  # the reference's nesting limit
DEFAULT_CONCURRENCY = 8  # the reference's bound on batch fan-out


@dataclass(frozen=True, slots=True)
class CallSite:
    """How a pipe is called: where its output goes and any multiplicity the caller forces."""

    result: str | None = None
    nb_output: int | None = None
    multiple_output: bool | None = None


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Per-run settings. `seed` makes stuff codes and mocks reproducible (the run id in a workflow)."""

    dry_run: bool = False
    dynamic_output_concept: str = TEXT
    max_depth: int = MAX_DEPTH
    concurrency: int = DEFAULT_CONCURRENCY
    seed: str = "methodflow"


class PipeListener(Protocol):
    """Told when each pipe starts and ends (progress lines, workflow queries)."""

    def pipe_started(self, pipe_ref: str, depth: int) -> None: ...

    def pipe_finished(self, pipe_ref: str, depth: int, outcome: str) -> None: ...


_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_case(code: str) -> str:
    """`CrateLabel` → `crate_label`, `JSON` → `json` (the default name of an unnamed output)."""
    return _CAMEL_BOUNDARY.sub("_", code).lower()
