"""The Pipe Builder's check: the bundle read from a model's answer, validated and dry-run (builder.mthds).

Registered as PipeFunc functions (`methodflow.builder.check_draft`, `methodflow.builder.keep_draft`) by
`register_builder_functions`, which the API and the worker call at start-up.

Reading the answer: the first fenced block marked `toml` (or `mthds`), else the first unmarked fenced
block, else the whole answer. An answer in which no line looks like TOML (no `[table]` header, no
`key = value`) holds no bundle: that draft is refused with `build.no_bundle` and sent for repair like
any other fault; if the last round still holds none, the run fails with `build.no_bundle`, since there
is no draft to answer with.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from typing import Any

from shared.language.report import BundleSource, ValidationReport
from shared.language.validator import validate_sources
from shared.problems.catalogue import ProblemCode
from shared.runtime.function_context import current_deck
from shared.runtime.function_registry import DEFAULT_REGISTRY, FunctionRegistry
from shared.runtime.run_failure import PipeRunError
from shared.runtime.stuff import Stuff

CHECK_DRAFT = "methodflow.builder.check_draft"
KEEP_DRAFT = "methodflow.builder.keep_draft"
DRAFT_PATH = "bundle.mthds"

_FENCE = re.compile(r"^```[ \t]*([A-Za-z0-9_-]*)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_TOML_LINE = re.compile(r"^\s*(\[[^\]\n]+\]|[A-Za-z0-9_\"'.-]+\s*=)", re.MULTILINE)
# The repair prompt lists at most this many faults: enough to repair, bounded for the prompt's size.
_MAX_REPORTED = 30


def bundle_of_answer(answer: str) -> str | None:
    """The MTHDS text of a model's answer, or None when it holds none (see the module's docstring)."""
    blocks = [(match.group(1).lower(), match.group(2)) for match in _FENCE.finditer(answer)]
    marked = [text for language, text in blocks if language in ("toml", "mthds")]
    unmarked = [text for language, text in blocks if not language]
    text = (marked or unmarked or [answer])[0]
    return text.strip() + "\n" if _TOML_LINE.search(text) else None


def draft_faults(report: ValidationReport) -> list[dict[str, Any]]:
    """The validator's faults as problem items, plus the builder's own rule: a bundle must name its
    `main_pipe`, the pipe a build answers with."""
    faults = [issue.to_problem_item() for issue in report.issues]
    if report.is_valid and report.default_pipe_ref is None:
        faults.append(
            {
                "code": "method.main_pipe_missing",
                "detail": "The bundle declares no main_pipe; set main_pipe to the pipe that does the whole job.",
            }
        )
    return faults


def faults_report(faults: list[dict[str, Any]]) -> str:
    """One line per fault, with where it is, for the model to read."""
    lines = [f"- {fault['code']}{_where(fault)}: {fault['detail']}" for fault in faults[:_MAX_REPORTED]]
    if len(faults) > _MAX_REPORTED:
        lines.append(f"- ... and {len(faults) - _MAX_REPORTED} more faults of the same kinds.")
    return "\n".join(lines)


def _where(fault: Mapping[str, Any]) -> str:
    location: Mapping[str, Any] = fault.get("location") or {}
    parts = [f"{key} {location[key]}" for key in ("pipe", "field", "line", "column") if key in location]
    return f" ({', '.join(parts)})" if parts else ""


async def check_draft(inputs: Mapping[str, Stuff]) -> dict[str, Any]:
    """The next `BuildDraft`: the answer's bundle with its verdict and the rounds' history."""
    request = inputs["request"].content
    answer = str(inputs["answer"].content.get("text", ""))
    previous = inputs.get("draft")
    attempt = 1 + (int(previous.content["attempt"]) if previous is not None else 0)
    repairs: list[dict[str, Any]] = json.loads(previous.content["repairs_json"]) if previous else []
    if previous is not None:
        repairs.append({"attempt": attempt - 1, "errors": json.loads(previous.content["errors_json"])})
    done_after = int(request["max_repairs"]) + 1
    bundle = bundle_of_answer(answer)
    if bundle is None:
        if attempt >= done_after:
            raise PipeRunError(
                ProblemCode.BUILD_NO_BUNDLE,
                f"the builder's model answered no MTHDS bundle in draft {attempt}, its last round",
                params={"attempt": attempt},
            )
        faults: list[dict[str, Any]] = [
            {
                "code": ProblemCode.BUILD_NO_BUNDLE.value,
                "detail": "The answer held no MTHDS bundle; answer with the whole bundle in a ```toml block.",
            }
        ]
        pipe_ref = ""
    else:
        deck = current_deck()
        # Off the event loop: validation and its dry run are CPU work (the context, and its deck, follow).
        report = await asyncio.to_thread(validate_sources, [BundleSource(path=DRAFT_PATH, text=bundle)], deck)
        faults = draft_faults(report)
        pipe_ref = report.default_pipe_ref or ""
    is_valid = not faults
    return {
        "attempt": attempt,
        "bundle": bundle or "",
        "has_bundle": bundle is not None,
        "is_valid": is_valid,
        "done": is_valid or attempt >= done_after,
        "pipe_ref": pipe_ref if is_valid else "",
        "errors_report": faults_report(faults),
        "errors_json": json.dumps(faults, ensure_ascii=False),
        "repairs_json": json.dumps(repairs, ensure_ascii=False),
    }


def keep_draft(inputs: Mapping[str, Stuff]) -> Any:
    """The finished draft, unchanged."""
    return inputs["draft"].content


def register_builder_functions(registry: FunctionRegistry = DEFAULT_REGISTRY) -> None:
    """Make the builder's functions known; calling it again is harmless."""
    registry.register(CHECK_DRAFT, check_draft)
    registry.register(KEEP_DRAFT, keep_draft)
