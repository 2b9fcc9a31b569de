"""The client's pure parts: telling a run's end from its event stream, and when a request is sent again."""

from __future__ import annotations

import httpx
import pytest

from client.events import RunEndWatcher
from client.retrying import RetryPolicy, is_retried, next_delay, pause_before_retry, retry_after

STREAM = [
    "retry: 2000",
    "",
    "id: 1",
    "event: run.state",
    'data: {"state": "RUNNING"}',
    "",
    ": keep-alive",
    "",
    "id: 2",
    "event: run.finished",
    'data: {"type": "run.finished", "state": "COMPLETED"}',
]


def test_the_watcher_sees_the_end_once_the_finished_frame_is_whole() -> None:
    watcher = RunEndWatcher()
    for line in STREAM:
        watcher.feed(line)
    assert not watcher.ended  # the frame has no blank line yet
    watcher.feed("")
    assert watcher.ended


def test_other_events_are_no_end() -> None:
    watcher = RunEndWatcher()
    for line in ["event: pipe.finished", 'data: {"status": "run.finished"}', "", "event:run.state", ""]:
        watcher.feed(line)
    assert not watcher.ended


def answer(
    status: int, *, retry_after_header: str | None = None, run_id: str | None = None
) -> httpx.Response:
    headers = {"Retry-After": retry_after_header} if retry_after_header is not None else {}
    problem = {"code": "x.y", "domain": "runtime", **({"pipeline_run_id": run_id} if run_id else {})}
    return httpx.Response(status, headers=headers, json=problem)


@pytest.mark.parametrize(("status", "retried"), [(429, True), (502, True), (503, True), (504, True), (500, False),
                                                 (404, False), (409, False), (422, False)])  # fmt: skip
def test_only_429_502_503_504_are_retried(status: int, retried: bool) -> None:
    response = answer(status)
    assert is_retried(response, response.json()) is retried


def test_a_run_s_own_failure_is_never_retried() -> None:
    response = answer(502, run_id="run-1")
    assert not is_retried(response, response.json())
    assert pause_before_retry(RetryPolicy(), 1, 0.0, response) is None


def test_retry_after_seconds_win_over_the_backoff_and_the_deadline_bounds_both() -> None:
    policy = RetryPolicy(deadline=10, initial_delay=0.5, factor=2, max_delay=3)
    assert [policy.backoff(attempt) for attempt in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 3.0]
    assert retry_after(answer(503, retry_after_header="7")) == 7
    assert retry_after(answer(503, retry_after_header="Wed, 21 Oct 2026 07:28:00 GMT")) is None
    assert retry_after(answer(503, retry_after_header="-1")) is None
    assert next_delay(policy, 1, answer(503, retry_after_header="0")) == 0
    assert next_delay(policy, 2, answer(503)) == 1.0
    assert next_delay(policy, 1, None) == 0.5  # a connection failure: the backoff
    assert pause_before_retry(policy, 1, 2.0, answer(503, retry_after_header="7")) == 7
    assert pause_before_retry(policy, 1, 4.0, answer(503, retry_after_header="7")) is None
    assert pause_before_retry(policy, 1, 0.0, answer(404)) is None
