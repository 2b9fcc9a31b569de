"""Resuming a run (`POST /v1/runs/{id}/resume`, issue 19): the new run's request, built from the original's.

A run that ended FAILED, CANCELLED or timed out (FAILED with `run.timed_out`) may be resumed; a
COMPLETED run has nothing left to do and a live one is still doing it (409 `run.not_resumable`). The
new run is an ordinary start (`submit_run_data`: validation, the tenant's run limit, idempotency) of
the original's request with the body's corrections laid over it, and a `ResumeLineage` that puts
`resumed_from` and `reuse_runs` (the original, then the runs it resumed) in its `RunSpec`, so the
worker may reuse every completed invocation of them (`MemoScope`).

Decisions:
- Without `inputs`, the original's `RunSpec.inputs` are used as they are, stored-input markers included:
  checked, digested and stored at the original's start, they are only checked again by name against
  the (maybe corrected) method, and never stored again.
- With a corrected method (`files`, `mthds_contents`, ...), the pipe the original ran (its `pipe_ref`)
  must still declare the same output concept and multiplicity: the resumed run stands in for the
  original, so its result must be of the same kind (422 `method.resume_output_changed`).
- The body takes no `pipe_code`, output or timeout members (422 naming the member): a resume runs the
  original's pipe, with the original's output options, run time limit and batch failure mode.
- `callback_urls`, `budget` and `reuse` default to the original's; a run that hit its budget may be
  resumed with a higher one.
- The request digest of a resume includes `resumed_from`: resending the same resume is a replay (200),
  and the same id used for a plain start of the same method is a conflict (409).
- `resumed_by`: one small blob per resuming run under the original's storage
  (`runs/<original>/resumed_by/<new id>.json`), written after the start (and again on a replay, which
  repairs a lost write); one key per run, so two resumes at once never overwrite each other's mark.
  Read only for a run that could have been resumed (ended FAILED or CANCELLED).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from pydantic import ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.method_source import SOURCE_FIELDS, MethodSourceFields
from api.problems import ProblemError
from api.run_records import RunRecord
from api.run_request import REUSE_DESCRIPTION, BudgetMembers, ReuseScope
from api.settings import ApiSettings
from api.validation_cache import ValidationCache
from shared.language.concept_spec import Multiplicity
from shared.language.library import Library
from shared.language.report import BundleSource
from shared.problems.catalogue import ProblemCode
from shared.runs.run_states import RunState
from shared.runs.workflow_io import RunSpec
from shared.runtime.json_values import as_mapping
from shared.runtime.pipe_contracts import Declared, PipeContracts
from shared.storage.blob_store import BlobNotFoundError, BlobStore, StorageUnavailableError
from shared.storage.run_storage import run_key

RESUMABLE_STATES = frozenset({RunState.FAILED, RunState.CANCELLED})
_RESUMED_BY = "resumed_by"
# A run is resumed a handful of times; a listing past this many marks shows the first ones.
_MAX_MARKS = 100

logger = logging.getLogger(__name__)


class ResumeRequestBody(MethodSourceFields):
    """What `POST /v1/runs/{id}/resume` reads; every member is optional (the original's then stands)."""

    # Closed: a member a resume cannot change (`pipe_code`, ...) is refused, not silently ignored.
    model_config = ConfigDict(strict=True, extra="forbid")

    inputs: dict[str, Any] | None = Field(
        default=None,
        description="Corrected inputs (input name -> value, §4.2); absent: the original run's, as stored.",
    )
    pipeline_run_id: str | None = Field(
        default=None, description="The new run's id (the idempotency key); absent: a new UUID."
    )
    callback_urls: list[str] | None = Field(
        default=None, description="The new run's callback URLs; absent: the original run's."
    )
    budget: BudgetMembers = None
    reuse: ReuseScope | None = Field(default=None, description=REUSE_DESCRIPTION)


@dataclass(frozen=True, slots=True)
class ResumeLineage:
    """What a resumed run's start adds to an ordinary one (`api.run_submission.submit_run_data`)."""

    resumed_from: str
    # Every run whose memo entries the new run may reuse, nearest first.
    reuse_runs: list[str]
    # The original's inputs as stored (markers included), used as they are; None: the body's.
    inputs: dict[str, Any] | None
    # With a corrected method: the original's bundles, whose main pipe's output the new one must keep.
    original_sources: list[BundleSource] | None
    original_pipe_ref: str


def check_resumable(record: RunRecord) -> None:
    """409 `run.not_resumable` unless the run ended FAILED (timed out included) or CANCELLED."""
    if record.state in RESUMABLE_STATES:
        return
    ended = "has completed" if record.state is RunState.COMPLETED else "is still running"
    raise ProblemError(
        ProblemCode.RUN_NOT_RESUMABLE,
        f"The run '{record.run_id}' {ended} ({record.state.value}); only a run that failed, was "
        "cancelled or timed out can be resumed.",
        params={"state": record.state.value},
        pipeline_run_id=record.run_id,
    )


def resume_request(
    original: RunSpec,
    body: ResumeRequestBody,
    files: dict[str, Any] | None,
    settings: ApiSettings,
) -> tuple[dict[str, Any], ResumeLineage]:
    """The run request the resume submits, and its lineage. `files`: the original's method tree, if any."""
    given = body.model_dump(exclude_none=True)
    corrected = any(name in given for name in SOURCE_FIELDS)
    data: dict[str, Any] = {
        "pipe_code": original.pipe_ref,
        "output_name": original.output_name,
        "output_multiplicity": original.output_multiplicity,
        "dynamic_output_concept_ref": original.dynamic_output_concept_ref,
        "callback_urls": original.callback_urls or None,
        "batch_failures": original.batch_failures.value,
        "reuse": "tenant" if original.reuse_tenant else None,
        "budget": original.budget.model_dump(exclude_none=True) if original.budget is not None else None,
    }
    # The original's own limit, unless the service's is now lower (it would be refused).
    if original.run_timeout_seconds <= settings.run_timeout_seconds:
        data["run_timeout_seconds"] = original.run_timeout_seconds
    if not corrected:
        if files is not None:
            data["files"] = files
        else:
            data["mthds_contents"] = [bundle.text for bundle in original.bundles]
            data["mthds_sources"] = [bundle.path for bundle in original.bundles]
    data.update(given)
    lineage = ResumeLineage(
        resumed_from=original.run_id,
        reuse_runs=[original.run_id, *original.reuse_runs],
        inputs=None if "inputs" in given else original.inputs,
        original_sources=(
            [BundleSource(path=bundle.path, text=bundle.text) for bundle in original.bundles]
            if corrected
            else None
        ),
        original_pipe_ref=original.pipe_ref,
    )
    return data, lineage


def check_output_unchanged(
    lineage: ResumeLineage, library: Library, pipe_ref: str, verdicts: ValidationCache
) -> None:
    """422 `method.resume_output_changed` when a corrected method's pipe declares another output than
    the original's. Blocking (it may validate the original's method): call it off the event loop."""
    if lineage.original_sources is None:
        return
    report = verdicts.validate(lineage.original_sources)
    if report.library is None or lineage.original_pipe_ref not in report.library.pipes:
        return  # the original no longer validates here: nothing to hold the correction to
    before = _output_of(report.library, lineage.original_pipe_ref)
    after = _output_of(library, pipe_ref)
    if _shown(before) == _shown(after):
        return
    raise ProblemError(
        ProblemCode.METHOD_RESUME_OUTPUT_CHANGED,
        f"The corrected method's pipe '{pipe_ref}' outputs '{_shown(after)}', where the run it resumes "
        f"('{lineage.resumed_from}') output '{_shown(before)}'.",
        params={"pipe": pipe_ref, "original_concept": _shown(before), "concept": _shown(after)},
        location={"field": "pipe", "pipe": pipe_ref},
    )


def _output_of(library: Library, pipe_ref: str) -> Declared:
    return PipeContracts(library).of(library.pipes[pipe_ref]).output


def _shown(declared: Declared) -> str:
    """The resolved concept with its multiplicity, as a spec reads (`domain.Code[]`, `domain.Code[3]`)."""
    spec = declared.spec
    if spec.multiplicity is Multiplicity.VARIABLE:
        return f"{declared.concept}[]"
    if spec.multiplicity is Multiplicity.FIXED:
        return f"{declared.concept}[{spec.count}]"
    return declared.concept


def mark_resumed_by(
    store: BlobStore, storage_prefix: str, original: str, run_id: str, created_at: str
) -> None:
    """Record under the original run that `run_id` resumes it (blocking: off the event loop)."""
    key = run_key(storage_prefix, original, f"{_RESUMED_BY}/{run_id}.json")
    mark = {"pipeline_run_id": run_id, "created_at": created_at}
    store.put(key, json.dumps(mark).encode("utf-8"), "application/json")


def resumed_by(store: BlobStore, storage_prefix: str, record: RunRecord) -> list[str]:
    """The ids of the runs that resume `record`'s run, oldest first (blocking: off the event loop)."""
    if record.state not in RESUMABLE_STATES:
        return []
    marks: list[tuple[str, str]] = []
    for uri in store.list(run_key(storage_prefix, record.run_id, _RESUMED_BY))[:_MAX_MARKS]:
        try:
            mark = as_mapping(json.loads(store.get(uri)))
        except (BlobNotFoundError, ValueError):
            continue  # removed, or half-written by a crash: that resume's replay writes it again
        run_id = mark.get("pipeline_run_id") if mark is not None else None
        if mark is not None and isinstance(run_id, str):
            marks.append((str(mark.get("created_at", "")), run_id))
    return [run_id for _, run_id in sorted(marks)]


async def lineage_members(record: RunRecord, store: BlobStore, storage_prefix: str) -> dict[str, Any]:
    """methodflow: the record's `resumed_from` (null for a fresh run) and `resumed_by` (ids, oldest
    first; null while the storage cannot be read: a run's state and status never wait on the store)."""
    marks: list[str] | None = []
    if record.state in RESUMABLE_STATES:
        try:
            marks = await run_in_threadpool(resumed_by, store, storage_prefix, record)
        except StorageUnavailableError as exc:
            logger.warning("run %s: resumed_by unknown, the storage cannot be read: %s", record.run_id, exc)
            marks = None
    return {"resumed_from": record.resumed_from, "resumed_by": marks}
