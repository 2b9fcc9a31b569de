"""The run request body (http-api.md §4.1) and its checks before the method is read (§4.5 step 3).

The model is open: unknown keys are kept for the run record and otherwise ignored. Extension keys of
the reference that would run something else are refused rather than ignored.

`reuse` and `budget` (methodflow extensions, issue 19) are checked here and go into `RunSpec.reuse_tenant`
and `RunSpec.budget`. The budget is read member by member (not by the model), so that a refusal names
the member (`budget.max_cost_usd`): a number over 0, never a boolean; `max_tokens` a whole number.
"""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Any, Literal, cast

from pydantic import Field, WithJsonSchema

from api.method_source import MethodSourceFields
from api.problems import ProblemError, request_invalid
from api.settings import ApiSettings
from shared.problems.catalogue import ProblemCode
from shared.runs.workflow_io import RunBudget
from shared.runtime.batch_failures import BatchFailureMode

RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_VISIBLE_ASCII = re.compile(r"^[\x21-\x7e]{1,255}$")
_UNSUPPORTED_KEYS = ("bundle_b64", "method_ref", "method_id", "dependencies", "resources")
# Temporal's priority keys with the server's default of 5 levels: 1 runs first, unset means 3.
PRIORITY_HIGHEST = 1
PRIORITY_LOWEST = 5
BUDGET_MEMBERS = ("max_cost_usd", "max_tokens")
# The schema the document shows for `budget`; the members are checked by `run_budget`, which names them.
_BUDGET_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": False,
            "properties": {
                "max_cost_usd": {
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "description": "The most the run may spend, in USD at the model deck's prices.",
                },
                "max_tokens": {
                    "type": "integer",
                    "exclusiveMinimum": 0,
                    "description": "The most tokens the run's model calls may use, in total.",
                },
            },
        },
        {"type": "null"},
    ],
    "description": (
        "methodflow extension: the most the run may spend, 'max_cost_usd' and/or 'max_tokens'. Before "
        "each model call the worker reserves the call's worst case against it; a call that would exceed "
        "it is not made and the run fails 'run.budget_exceeded'."
    ),
}
BudgetMembers = Annotated[dict[str, Any] | None, WithJsonSchema(_BUDGET_SCHEMA)]
ReuseScope = Literal["tenant"]
REUSE_DESCRIPTION = (
    "methodflow extension: 'tenant' lets the run reuse the completed model calls and functions of any "
    "earlier run of the same tenant with the same pipe definition and inputs (never another tenant's); "
    "absent or null: only the runs it resumes."
)


class RunRequestBody(MethodSourceFields):
    """What `/v1/execute` and `/v1/start` read; field order is the order faults are reported in."""

    pipe_code: str | None = Field(default=None, description="Pipe to run: bare code or 'domain.pipe_code'.")
    inputs: dict[str, Any] | None = Field(default=None, description="input name -> value (§4.2).")
    output_name: str | None = None
    output_multiplicity: bool | int | str | None = None
    dynamic_output_concept_ref: str | None = None
    dynamic_output_concept_code: str | None = Field(default=None, description="Legacy name of the above.")
    pipeline_run_id: str | None = Field(
        default=None, description="Client-chosen run id; the idempotency key."
    )
    callback_urls: list[str] | None = None
    orchestration_mode: str | None = None
    run_timeout_seconds: float | None = Field(
        default=None, description="methodflow extension: a shorter run time limit than RUN_TIMEOUT_SECONDS."
    )
    batch_failures: str | None = Field(
        default=None,
        description=(
            "methodflow extension: 'fail' (default) ends the run at a batch's first failed item; 'collect' "
            "leaves failed items out of the batch's output and lists them in the results' batch_failures."
        ),
    )
    priority: int | None = Field(
        default=None,
        ge=PRIORITY_HIGHEST,
        le=PRIORITY_LOWEST,
        description=(
            "methodflow extension: the run's task priority, 1 (highest) to 5 (lowest), as Temporal's "
            "priority key; unset: Temporal's default (3). Within a priority, the tenant's tasks share "
            "the workers fairly with other tenants' (docs/design/fairness.md)."
        ),
    )

    reuse: ReuseScope | None = Field(default=None, description=REUSE_DESCRIPTION)
    budget: BudgetMembers = None

    @property
    def output_concept_ref(self) -> str | None:
        return self.dynamic_output_concept_ref or self.dynamic_output_concept_code


KNOWN_KEYS = frozenset(RunRequestBody.model_fields) | {
    *_UNSUPPORTED_KEYS,
    "storage_scope",
    "read_scope",
    "analytics_groups",
}


def unknown_members(data: dict[str, Any]) -> dict[str, Any]:
    """The body's members this service does not read: kept in the run record, never acted on."""
    return {key: value for key, value in data.items() if key not in KNOWN_KEYS}


def check_request_fields(body: RunRequestBody, data: dict[str, Any], settings: ApiSettings) -> None:
    """Step 3 beyond the schema: limits, the run id, extension keys (step 4 is `api.callback_urls`)."""
    if body.pipe_code is not None and len(body.pipe_code) > settings.max_pipe_code_len:
        raise request_invalid(
            field="pipe_code", reason=f"it is longer than {settings.max_pipe_code_len} characters."
        )
    if body.pipeline_run_id is not None and not is_run_id(body.pipeline_run_id):
        raise request_invalid(
            field="pipeline_run_id",
            reason="it must match ^[A-Za-z0-9._-]{1,128}$ and be neither '.' nor '..'.",
        )
    if isinstance(body.output_multiplicity, str) and body.output_multiplicity not in ("single", "variable"):
        raise request_invalid(
            field="output_multiplicity", reason="a string value must be 'single' or 'variable'."
        )
    multiplicity = body.output_multiplicity
    if isinstance(multiplicity, int) and not isinstance(multiplicity, bool) and multiplicity < 1:
        raise request_invalid(field="output_multiplicity", reason="a count must be at least 1.")
    if (
        body.run_timeout_seconds is not None
        and not 0 < body.run_timeout_seconds <= settings.run_timeout_seconds
    ):
        raise request_invalid(
            field="run_timeout_seconds",
            reason=f"it must be over 0 and at most {settings.run_timeout_seconds:g}.",
        )
    if body.batch_failures is not None and body.batch_failures not in set(BatchFailureMode):
        raise request_invalid(
            field="batch_failures",
            reason=f"it must be {' or '.join(repr(mode.value) for mode in BatchFailureMode)}.",
        )
    _check_list_sizes(body.inputs, settings.batch_max_items)
    run_budget(body.budget)
    for key in _UNSUPPORTED_KEYS:
        if data.get(key) is not None:
            raise ProblemError(
                ProblemCode.RUNTIME_UNSUPPORTED,
                f"This service does not support '{key}'; send the method inline.",
                params={"capability": key},
            )
    if body.orchestration_mode not in (None, "temporal"):
        raise ProblemError(
            ProblemCode.PIPELEX_ORCHESTRATION_OVERRIDE_FORBIDDEN,
            f"The orchestration mode '{body.orchestration_mode}' cannot be chosen per request.",
            params={"requested_mode": body.orchestration_mode},
        )
    _check_callback_urls(body.callback_urls, settings)


def run_budget(members: dict[str, Any] | None) -> RunBudget | None:
    """The request's `budget` as the run's; 422 `request.invalid` naming the first bad member."""
    if members is None:
        return None
    for name in members:
        if name not in BUDGET_MEMBERS:
            raise request_invalid(
                field=f"budget.{name[:64]}",
                reason="a budget has only 'max_cost_usd' and 'max_tokens'.",
            )
    cost, tokens = members.get("max_cost_usd"), members.get("max_tokens")
    if cost is not None and (isinstance(cost, bool) or not isinstance(cost, int | float) or cost <= 0):
        raise request_invalid(field="budget.max_cost_usd", reason="it must be a number over 0 (USD).")
    if tokens is not None and (isinstance(tokens, bool) or not isinstance(tokens, int) or tokens <= 0):
        raise request_invalid(field="budget.max_tokens", reason="it must be a whole number over 0.")
    if cost is None and tokens is None:
        raise request_invalid(field="budget", reason="give 'max_cost_usd', 'max_tokens' or both.")
    return RunBudget(
        max_cost_usd=float(cost) if cost is not None else None,
        max_tokens=tokens,
    )


def _check_list_sizes(inputs: dict[str, Any] | None, limit: int) -> None:
    """422 naming the first input whose list holds more than `limit` (BATCH_MAX_ITEMS) items."""
    for name, value in (inputs or {}).items():
        size = _list_size(value)
        if size > limit:
            field = f"inputs.{name}"
            raise ProblemError(
                ProblemCode.REQUEST_INVALID,
                f"The request's field '{field}' holds a list of {size} items, over the {limit} items a "
                "list input may hold (BATCH_MAX_ITEMS).",
                params={"field": field, "limit": limit, "size": size},
                location={"field": field},
                next_step_detail="Split the list over several runs, then send the requests again.",
            )


def _list_size(value: Any) -> int:
    """The items of a list input: the value itself, or the `content` of a `{concept, content}` envelope."""
    if isinstance(value, dict) and "content" in value:
        value = cast("dict[str, Any]", value)["content"]
    return len(cast("list[Any]", value)) if isinstance(value, list) else 0


def _check_callback_urls(urls: list[str] | None, settings: ApiSettings) -> None:
    if not urls:
        return
    if len(urls) > settings.max_callback_urls:
        raise request_invalid(
            field="callback_urls", reason=f"at most {settings.max_callback_urls} URLs are accepted."
        )
    for url in urls:
        if len(url) > settings.max_callback_url_len:
            raise request_invalid(
                field="callback_urls",
                reason=f"each URL has at most {settings.max_callback_url_len} characters.",
            )


def is_run_id(value: str) -> bool:
    return bool(RUN_ID_PATTERN.match(value)) and value not in (".", "..")


def run_id_from_key(key: str) -> str:
    """§7: a key shaped like a run id is the run id; any other valid key maps to `ik-` + its hash."""
    if not _VISIBLE_ASCII.match(key):
        raise request_invalid(field="Idempotency-Key", reason="it must be 1 to 255 visible ASCII characters.")
    if is_run_id(key):
        return key
    return f"ik-{hashlib.sha256(key.encode('ascii')).hexdigest()[:40]}"


def chosen_run_id(body: RunRequestBody, idempotency_key: str | None) -> str | None:
    """The run id the caller chose (body, else header), or None; 422 when both are given and differ."""
    from_key = run_id_from_key(idempotency_key) if idempotency_key is not None else None
    if body.pipeline_run_id is not None and from_key is not None and from_key != body.pipeline_run_id:
        raise request_invalid(
            field="Idempotency-Key", reason="it names another run than the body's 'pipeline_run_id'."
        )
    return body.pipeline_run_id or from_key
