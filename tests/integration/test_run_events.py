"""The run's event stream (http-api.md §9.8) over real HTTP, fed by the real workflow's progress log."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from api.routes import run_events
from tests.helpers.api_server import assert_problem
from tests.helpers.run_stack import run_stack
from tests.helpers.sse import SseFrame, read_events, sse_frames
from tests.integration.test_runs import FUNCS, greet_body


async def test_a_run_streams_its_log_then_run_finished(temporal_address: str, tmp_path: Path) -> None:
    async with run_stack(
        temporal_address, tmp_path, api_overrides={"public_base_url": "https://runs.example"}
    ) as stack:
        started = await stack.client.post("/v1/start", json=greet_body(pipeline_run_id="run-sse-1"))
        assert started.status_code == 202
        frames = await read_events(stack.client, "/v1/runs/run-sse-1/events")
        assert frames[0].retry == 2000
        events = [frame for frame in frames if frame.event is not None]
        names = [frame.event for frame in events]
        assert names[0] == "run.state"
        assert names[-2:] == ["run.state", "run.finished"]
        assert names.count("pipe.started") == names.count("pipe.finished") == 3
        seqs = [frame.data["seq"] for frame in events]
        assert seqs == list(range(1, len(events) + 1))
        assert [frame.id for frame in events] == [str(seq) for seq in seqs]
        assert events[0].data["state"] == "RUNNING"
        step = next(frame.data for frame in events if frame.event == "pipe.finished")
        assert step["pipeline_run_id"] == "run-sse-1"
        assert step["status"] == "succeeded"
        assert {"path", "pipe_code", "pipe_ref", "pipe_type", "started_at", "ended_at", "at"} <= set(step)
        finished = events[-1].data
        assert finished["type"] == "run.finished"
        assert finished["state"] == finished["status"] == "COMPLETED"
        assert finished["main_stuff_name"] == "wrapped"
        assert finished["output"] == {"text": ">> Hello, Ada! <<"}
        assert finished["result_url"] == "https://runs.example/v1/runs/run-sse-1/results"
        progress = (await stack.client.get("/v1/runs/run-sse-1/progress")).json()
        assert progress["version"] == len(events) - 1  # run.finished is one past the log

        resumed = await read_events(stack.client, "/v1/runs/run-sse-1/events", headers={"Last-Event-ID": "3"})
        assert [frame.data["seq"] for frame in resumed if frame.event] == seqs[3:]
        by_query = await read_events(stack.client, f"/v1/runs/run-sse-1/events?after={seqs[-2]}")
        assert [frame.event for frame in by_query if frame.event] == ["run.finished"]
        past_the_end = await read_events(stack.client, f"/v1/runs/run-sse-1/events?after={seqs[-1]}")
        assert [frame.event for frame in past_the_end if frame.event] == ["run.finished"]


async def test_live_events_arrive_while_the_run_runs(
    temporal_address: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLOW_SECONDS", "1.5")
    async with run_stack(temporal_address, tmp_path) as stack:
        body = {
            "mthds_contents": [FUNCS],
            "pipe_code": "slow",
            "inputs": {"name": "x"},
            "pipeline_run_id": "run-sse-live",
        }
        assert (await stack.client.post("/v1/start", json=body)).status_code == 202
        async with stack.client.stream("GET", "/v1/runs/run-sse-live/events") as response:
            seen: list[str] = []
            async for frame in sse_frames(response):
                if frame.event is None:
                    continue
                seen.append(frame.event)
                if frame.event == "pipe.started":
                    # Live: the stream tells of the pipe while it still runs.
                    status = (await stack.client.get("/v1/runs/run-sse-live/status")).json()
                    assert status["state"] == "RUNNING"
        assert seen == ["run.state", "pipe.started", "pipe.finished", "run.state", "run.finished"]


async def test_a_failed_run_finishes_with_its_problem(temporal_address: str, tmp_path: Path) -> None:
    async with run_stack(temporal_address, tmp_path) as stack:
        body = {
            "mthds_contents": [FUNCS],
            "pipe_code": "broken",
            "inputs": {"name": "x"},
            "pipeline_run_id": "run-sse-broken",
        }
        assert (await stack.client.post("/v1/start", json=body)).status_code == 202
        frames = await read_events(stack.client, "/v1/runs/run-sse-broken/events")
        events = [frame for frame in frames if frame.event]
        failed_pipe = next(frame.data for frame in events if frame.event == "pipe.finished")
        assert failed_pipe["status"] == "failed"
        finished = events[-1].data
        assert finished["state"] == "FAILED"
        assert finished["error"]["code"] == "pipe.function_failed"
        assert finished["error"]["pipeline_run_id"] == "run-sse-broken"
        assert "status" not in finished["error"]
        assert "output" not in finished
        assert "main_stuff_name" not in finished


async def test_errors_before_the_stream_opens(temporal_address: str, tmp_path: Path) -> None:
    async with run_stack(temporal_address, tmp_path, worker=False) as stack:
        capabilities = (await stack.client.get("/v1/version")).json()["capabilities"]
        assert capabilities["events"] is True
        assert_problem(await stack.client.get("/v1/runs/nope/events"), 404, "run.not_found")
        for headers, query in (({"Last-Event-ID": "x"}, ""), ({}, "?after=-1"), ({}, "?after=1.5")):
            answer = await stack.client.get(f"/v1/runs/nope/events{query}", headers=headers)
            assert_problem(answer, 422, "request.invalid")


async def test_a_stream_without_workers_stays_open_with_keep_alives(
    temporal_address: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_events, "KEEP_ALIVE_SECONDS", 0.5)  # 15 s in service
    async with run_stack(temporal_address, tmp_path, worker=False) as stack:
        started = await stack.client.post("/v1/start", json=greet_body(pipeline_run_id="run-sse-idle"))
        assert started.status_code == 202

        async def first_frames() -> list[SseFrame]:
            async with stack.client.stream("GET", "/v1/runs/run-sse-idle/events") as response:
                assert response.status_code == 200
                frames = sse_frames(response)
                return [await anext(frames) for _ in range(3)]

        retry, *quiet = await asyncio.wait_for(first_frames(), timeout=20)
        assert retry.retry == 2000
        assert [frame.comment for frame in quiet] == ["keep-alive", "keep-alive"]
        assert all(frame.event is None for frame in quiet)
