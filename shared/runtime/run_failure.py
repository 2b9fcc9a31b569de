"""Typed run failures: every way a run can end badly names its problem code and the failing pipe. Pure."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class FailureCode(StrEnum):
    """Problem codes of run failures (mthds.md §8 and http-api.md §13.2)."""

    CONDITION_UNMATCHED = "pipe.condition_unmatched"
    CONDITION_REFUSED = "pipe.condition_refused"
    INPUT_UNRESOLVED = "pipe.input_unresolved"
    FORCED_INPUT_ABSENT = "pipe.forced_input_absent"
    INPUT_MISMATCH = "pipe.input_mismatch"
    BATCH_INPUT_NOT_LIST = "pipe.batch_input_not_list"
    BINDING_FAILED = "pipe.binding_failed"
    TEMPLATE_RENDER_FAILED = "pipe.template_render_failed"
    TEMPLATE_BUDGET_EXCEEDED = "pipe.template_budget_exceeded"
    STACK_OVERFLOW = "pipe.stack_overflow"
    OUTPUT_INVALID = "pipe.output_invalid"
    PAYLOAD_TOO_LARGE = "pipe.payload_too_large"
    HISTORY_EXHAUSTED = "pipe.history_exhausted"
    OPTIONAL_UNHANDLED = "method.optional_unhandled"
    PIPE_UNRESOLVED = "method.pipe_unresolved"
    FUNCTION_INVALID = "method.function_invalid"
    FUNCTION_FAILED = "pipe.function_failed"
    DOCUMENT_FAILED = "pipe.document_failed"
    MODEL_UNAVAILABLE = "model.unavailable"
    MODEL_UNKNOWN = "model.unknown"
    OUTPUT_SCHEMA_MISMATCH = "model.output_schema_mismatch"
    PROVIDER_UNAVAILABLE = "provider.unavailable"
    PROVIDER_TIMEOUT = "provider.timeout"
    # Files the pipe reads (http-api.md §4.3), fetched by the worker.
    FILE_UNREADABLE = "input.file_unreadable"
    FILE_TOO_LARGE = "input.too_large"
    FILE_URL_UNREACHABLE = "input.url_unreachable"
    FILE_URL_REFUSED = "security.input_url_refused"
    FILE_NOT_FOUND = "input.reference_not_found"
    RUNTIME_UNEXPECTED = "runtime.unexpected"
    # A deployment fault that may pass: the blob store down, full or refusing at every attempt, or the
    # worker running a pipe gone silent (heartbeat timeout) on its last attempt.
    RUNTIME_UNAVAILABLE = "runtime.unavailable"
    # A model call the run's `budget` cannot cover (its worst case reserved first): the run stops.
    BUDGET_EXCEEDED = "run.budget_exceeded"
    # A model call its tenant's daily limit (TENANT_MAX_COST_PER_DAY_USD) cannot cover: the run stops.
    TENANT_BUDGET_EXCEEDED = "tenant.daily_budget_exceeded"


class PipeRunError(Exception):
    """A run failure located at the innermost pipe that failed.

    `retryable` tells an orchestrator whether running the same pipe again may succeed (provider faults),
    as opposed to faults of the method or its inputs, which fail identically every time.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        pipe: str | None = None,
        retryable: bool = False,
        params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.pipe = pipe
        self.retryable = retryable
        self.params: dict[str, Any] = params or {}

    def located(self, pipe: str) -> PipeRunError:
        """This failure, attributed to `pipe` when no inner pipe claimed it yet."""
        if self.pipe is None:
            self.pipe = pipe
        return self

    def at_item(self, batch_pipe: str, item_index: int, item_path: str) -> PipeRunError:
        """This failure, attributed to item `item_index` (0-based, its position in the batched list) of
        the batch `batch_pipe`, at invocation `item_path`, unless an inner batch's item claimed it first
        (the innermost item is the one that failed; its path names the outer items).
        """
        if "item_index" not in self.params:
            self.params = {
                **self.params,
                "batch_pipe": batch_pipe,
                "item_index": item_index,
                "item_path": item_path,
            }
            self.message = f"item {item_index} (0-based) of the batch '{batch_pipe}' failed: {self.message}"
        return self

    def problem(self) -> dict[str, Any]:
        """The failure as a problem item (`code`, `detail`, `params`, `location.pipe`)."""
        item: dict[str, Any] = {"code": self.code, "detail": self.message}
        params = {**self.params, **({"pipe": self.pipe} if self.pipe else {})}
        if params:
            item["params"] = params
        if self.pipe:
            item["location"] = {"pipe": self.pipe}
        return item
