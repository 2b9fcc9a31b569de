"""The `run.finished` body (http-api.md §10.2): members by state, the inline-output limit."""

from __future__ import annotations

from shared.runs.finished_event import finished_event
from shared.runs.run_states import RunState
from shared.runs.workflow_io import RunEnd

MEMORY = {"root": {"answer": {"concept": "native.Text", "content": {"text": "x" * 100}}}, "aliases": {}}


def _completed(max_bytes: int) -> dict[str, object]:
    end = RunEnd(
        state=RunState.COMPLETED, finished_at="2026-11-23T14:09:46.120311Z", main_stuff_name="answer"
    )
    return finished_event(
        run_id="run-1",
        created_at="2026-11-23T14:09:45.964574Z",
        end=end,
        memory=MEMORY,
        result_url="https://runs.example/v1/runs/run-1/results",
        output_max_bytes=max_bytes,
    )


def test_a_completed_run_carries_its_output_inline_up_to_the_limit() -> None:
    body = _completed(max_bytes=4096)
    assert body == {
        "type": "run.finished",
        "pipeline_run_id": "run-1",
        "state": "COMPLETED",
        "status": "COMPLETED",
        "created_at": "2026-11-23T14:09:45.964574Z",
        "finished_at": "2026-11-23T14:09:46.120311Z",
        "main_stuff_name": "answer",
        "result_url": "https://runs.example/v1/runs/run-1/results",
        "output": {"text": "x" * 100},
    }


def test_an_output_over_the_limit_is_omitted() -> None:
    body = _completed(max_bytes=50)
    assert "output" not in body
    assert body["output_omitted"] is True


def test_a_failed_run_carries_its_problem_without_status() -> None:
    error = {"type": "t", "title": "Pipe failed", "status": 422, "code": "pipe.function_failed"}
    end = RunEnd(state=RunState.FAILED, finished_at="2026-11-23T14:09:46Z", error=error, error_status=422)
    body = finished_event(run_id="run-2", created_at="c", end=end, memory=None, result_url="u")
    assert body["error"] == {"type": "t", "title": "Pipe failed", "code": "pipe.function_failed"}
    assert "main_stuff_name" not in body
    assert "output" not in body
