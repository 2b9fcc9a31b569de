"""Run states (http-api.md §9.1) and the filter values callers may send. Pure."""

from __future__ import annotations

from enum import StrEnum


class RunState(StrEnum):
    STARTED = "STARTED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def progress_status(self) -> str:
        """The lower-case run status of `/progress` (§9.5)."""
        return _PROGRESS_STATUS[self]


_TERMINAL = frozenset({RunState.COMPLETED, RunState.FAILED, RunState.CANCELLED})
_PROGRESS_STATUS = {
    RunState.STARTED: "pending",
    RunState.RUNNING: "running",
    RunState.COMPLETED: "succeeded",
    RunState.FAILED: "failed",
    RunState.CANCELLED: "canceled",
}

# `ERROR` is what older servers called a failed run: read in filters, never written (§9.1).
_FILTER_ALIASES = {"ERROR": RunState.FAILED}


def parse_state_filter(value: str) -> RunState | None:
    """The state a filter value names (case-insensitive), or None when it names none."""
    upper = value.strip().upper()
    if upper in _FILTER_ALIASES:
        return _FILTER_ALIASES[upper]
    try:
        return RunState(upper)
    except ValueError:
        return None
