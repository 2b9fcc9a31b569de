"""What a bulk resume (`POST /v1/runs/resume`) is asked: its body, its filter's checks, and the runs the
filter matches (Temporal visibility). Checks answer 422 `request.invalid` naming the member."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.auth import Caller
from api.method_source import SOURCE_FIELDS, MethodSourceFields, bundle_sources, caller_blobs
from api.problems import ProblemError, request_invalid
from api.run_listing import build_query, list_page
from api.run_request import REUSE_DESCRIPTION, BudgetMembers, ReuseScope, run_budget
from api.run_resume import RESUMABLE_STATES
from api.settings import ApiSettings
from api.temporal_gateway import TemporalGateway
from api.validation_cache import ValidationCache
from shared.problems.catalogue import ProblemCode
from shared.runs.run_states import RunState, parse_state_filter
from shared.runs.timestamps import rfc3339

_PAGE = 100


class ResumeFilter(BaseModel):
    """Which of the caller's runs to resume: all of the given members must hold."""

    model_config = ConfigDict(strict=True, extra="forbid")

    states: list[str] | None = Field(
        default=None, description="FAILED and/or CANCELLED (a timed-out run is FAILED); absent: both."
    )
    pipe_code: str | None = Field(default=None, description="Only runs of this pipe.")
    created_after: str | None = Field(default=None, description="RFC 3339 instant: runs started at or after.")
    created_before: str | None = Field(
        default=None, description="RFC 3339 instant: runs started at or before."
    )


class BulkResumeRequestBody(MethodSourceFields):
    """What `POST /v1/runs/resume` reads: a filter, and what every resume shares (no `inputs`)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    filter: ResumeFilter = Field(description="The runs to resume; `{}`: every failed or cancelled run.")
    callback_urls: list[str] | None = Field(
        default=None, description="The new runs' callback URLs; absent: each original run's."
    )
    budget: BudgetMembers = None
    reuse: ReuseScope | None = Field(default=None, description=REUSE_DESCRIPTION)


def parse_body(data: dict[str, Any]) -> BulkResumeRequestBody:
    """The body as a `BulkResumeRequestBody`; 422 `request.invalid` naming the first bad member."""
    if "inputs" in data:
        raise request_invalid(
            field="inputs",
            reason="each run keeps its own inputs; resume one run (POST /v1/runs/{id}/resume) to correct them.",
        )
    try:
        body = BulkResumeRequestBody.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [str(part) for part in first["loc"]]
        # A filter member is named in full (`filter.states`); elsewhere the top member, as other routes do.
        field = ".".join(loc[:2]) if loc[:1] == ["filter"] and len(loc) > 1 else (loc[0] if loc else "body")
        raise request_invalid(field=field, reason=f"{first['msg'].lower()}.") from exc
    run_budget(body.budget)
    return body


def filter_states(given: ResumeFilter) -> list[str]:
    """The states to match, each FAILED or CANCELLED; 422 naming `filter.states` otherwise."""
    if given.states is None:
        return [RunState.FAILED.value, RunState.CANCELLED.value]
    if not given.states:
        raise request_invalid(field="filter.states", reason="name at least one of FAILED and CANCELLED.")
    wanted: list[str] = []
    for raw in given.states:
        state = parse_state_filter(raw) if raw.strip() else None
        if state is None:
            raise request_invalid(field="filter.states", reason=f"'{raw[:64]}' is not a run state.")
        if state not in RESUMABLE_STATES:
            raise request_invalid(
                field="filter.states",
                reason=f"a {state.value} run cannot be resumed; name FAILED and/or CANCELLED.",
            )
        if state.value not in wanted:
            wanted.append(state.value)
    return wanted


def filter_instants(given: ResumeFilter) -> tuple[str | None, str | None]:
    """`created_after` and `created_before` as RFC 3339 in UTC; 422 when unreadable or out of order."""
    after = _instant(given.created_after, "filter.created_after")
    before = _instant(given.created_before, "filter.created_before")
    if after is not None and before is not None and after[1] > before[1]:
        raise request_invalid(field="filter.created_after", reason="it is later than 'created_before'.")
    return (after[0] if after else None, before[0] if before else None)


def _instant(value: str | None, field: str) -> tuple[str, datetime] | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None or "T" not in value:
            parsed = None
        shown = rfc3339(parsed) if parsed is not None else None
    except (ValueError, OverflowError):
        parsed, shown = None, None
    if parsed is None or shown is None:
        raise request_invalid(
            field=field, reason="give an RFC 3339 instant with its offset, e.g. 2026-11-23T14:00:00Z."
        )
    return shown, parsed


def check_correction(
    body: BulkResumeRequestBody, caller: Caller, settings: ApiSettings, verdicts: ValidationCache
) -> None:
    """A corrected method must validate: the 422 a single resume answers, before any run is matched.
    Blocking (it reads blobs and validates): call it off the event loop."""
    if not any(getattr(body, name) is not None for name in SOURCE_FIELDS):
        return
    sources = bundle_sources(body, settings, refuse_custom_code=True, blobs=caller_blobs(caller, settings))
    report = verdicts.validate(sources)
    if not report.is_valid or report.library is None:
        errors = [issue.to_problem_item() for issue in report.issues]
        raise ProblemError(
            ProblemCode.METHOD_INVALID,
            f"The method does not validate ({len(errors)} fault(s)).",
            errors=errors,
        )


@dataclass(frozen=True, slots=True)
class RunFilter:
    """A checked filter, as `api.run_listing.list_page` takes it."""

    states: list[str]
    pipe_code: str | None
    after: str | None
    before: str | None


def checked_filter(given: ResumeFilter, caller: Caller) -> RunFilter:
    """The filter checked (pure); 422 `request.invalid` naming its first bad member (`filter.<member>`)."""
    states = filter_states(given)
    after, before = filter_instants(given)
    try:  # the listing's own check of a pipe code
        build_query(caller, states=states, pipe_code=given.pipe_code, after=None, before=None)
    except ProblemError as exc:
        raise request_invalid(field="filter.pipe_code", reason="it is not a pipe code.") from exc
    return RunFilter(states, given.pipe_code, after, before)


async def matching_runs(
    gateway: TemporalGateway, caller: Caller, given: RunFilter, *, most: int
) -> list[str]:
    """The ids of the caller's runs the filter matches (Temporal visibility), in the listing's order.

    422 `request.invalid` naming `filter` once more than `most` match: the listing stops there, so a
    filter matching a whole tenant's history costs a page more than the cap, not the history.
    """
    client = await gateway.client()
    found: dict[str, None] = {}
    cursor: str | None = None
    while True:
        page = await list_page(
            client,
            caller,
            states=given.states,
            pipe_code=given.pipe_code,
            after=given.after,
            before=given.before,
            limit=_PAGE,
            cursor=cursor,
        )
        for item in page["items"]:
            if item["state"] in given.states:
                found[item["pipeline_run_id"]] = None
        if len(found) > most:
            raise request_invalid(
                field="filter",
                reason=(
                    f"it matches more than {most} runs; narrow it with states, pipe_code, "
                    "created_after or created_before."
                ),
            )
        cursor = page["next_cursor"]
        if cursor is None:
            return list(found)
