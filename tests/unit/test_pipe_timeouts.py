"""What an activity that timed out on its last attempt fails its run with (worker/activity_executor.py):
a heartbeat timeout means the worker went silent, not that the pipe is wrong."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ActivityError, RetryState, TimeoutError, TimeoutType

from worker.activity_executor import pipe_failure


def _timed_out(kind: TimeoutType) -> ActivityError:
    error = ActivityError(
        "activity error",
        scheduled_event_id=5,
        started_event_id=6,
        identity="worker-a",
        activity_type="run_operator",
        activity_id="1",
        retry_state=RetryState.MAXIMUM_ATTEMPTS_REACHED,
    )
    error.__cause__ = TimeoutError("activity timeout", type=kind, last_heartbeat_details=[])
    return error


def test_a_heartbeat_timeout_is_the_runtime_unavailable_and_worth_retrying() -> None:
    failure = pipe_failure(_timed_out(TimeoutType.HEARTBEAT), "slow_step", "PipeFunc")
    assert failure.code == "runtime.unavailable"
    assert failure.retryable
    assert failure.pipe == "slow_step"
    assert failure.params == {"timeout": "heartbeat"}
    assert "stopped answering" in str(failure)


@pytest.mark.parametrize(
    ("pipe_type", "code"),
    [
        ("PipeFunc", "pipe.function_failed"),
        ("PipeLLM", "provider.timeout"),
        ("PipeCompose", "runtime.unexpected"),
    ],
)
def test_a_start_to_close_timeout_keeps_naming_the_kind_of_pipe(pipe_type: str, code: str) -> None:
    failure = pipe_failure(_timed_out(TimeoutType.START_TO_CLOSE), "slow_step", pipe_type)
    assert failure.code == code
    assert "did not finish in time (START_TO_CLOSE)" in str(failure)
