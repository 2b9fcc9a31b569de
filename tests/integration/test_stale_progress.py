"""A run's progress while no worker answers its queries: the last known progress, marked stale, never
zero, and served without waiting on the query again; fresh again once a worker is back.

The API runs in-process (httpx's ASGI transport) so the test can read its progress cache's counter; the
worker is started, stopped mid-run and started again on the run's task queue.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.main import create_app
from api.settings import ApiSettings
from api.temporal_gateway import TemporalGateway
from tests.helpers.function_bundles import chain_bundle
from tests.helpers.run_functions import SLOW
from worker.runner import build_worker
from worker.settings import WorkerSettings
from worker.temporal_connection import connect

STEPS = 6


async def _status(http: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    response = await http.get(f"/v1/runs/{run_id}/status")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.timeout(60)
async def test_status_keeps_the_last_known_progress_while_no_worker_answers(
    temporal_address: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLOW_SECONDS", "0.3")
    task_queue = f"test-{uuid.uuid4()}"
    app = create_app(
        ApiSettings(temporal_address=temporal_address, temporal_task_queue=task_queue, data_dir=tmp_path)
    )
    gateway: TemporalGateway = app.state.temporal
    temporal = await connect(temporal_address)
    # A stopped worker's activity is retried by the next one after its timeout at the latest.
    worker_settings = WorkerSettings(data_dir=tmp_path, pipe_activity_timeout_seconds=3)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://methodflow.test", timeout=30) as http:
        async with build_worker(temporal, worker_settings, task_queue=task_queue):
            started = await http.post(
                "/v1/start",
                json={"mthds_contents": [chain_bundle(SLOW, STEPS, "stale")], "inputs": {"name": "x"}},
            )
            assert started.status_code == 202, started.text
            run_id = started.json()["pipeline_run_id"]
            while True:
                if (await _status(http, run_id))["progress"]["pipes_done"] >= 2:
                    break
                await asyncio.sleep(0.05)
            # A whole read of the log too, so /progress has its invocations to serve.
            fresh = (await http.get(f"/v1/runs/{run_id}/progress")).json()
            assert "stale" not in fresh["counters"]
        # The worker is gone, the run is not over.
        done_before = fresh["counters"]["pipes_done"]
        assert done_before >= 2

        first = await _status(http, run_id)
        assert first["state"] == "RUNNING"
        assert first["progress"]["stale"] is True
        assert first["progress"]["pipes_done"] >= done_before  # not 0: never backwards
        assert first["progress"]["pipes_total"] >= first["progress"]["pipes_done"]
        assert isinstance(first["progress"]["as_of"], str)

        reads_before = gateway.known_progress.reads_without_query
        second = await _status(http, run_id)
        assert second["progress"] == first["progress"]  # the same last known progress...
        assert gateway.known_progress.reads_without_query == reads_before + 1  # ...with no query waited on

        progress = (await http.get(f"/v1/runs/{run_id}/progress")).json()
        assert progress["counters"]["stale"] is True
        assert progress["counters"]["pipes_done"] >= done_before
        assert progress["version"] >= fresh["version"]
        assert len(progress["invocations"]) >= len(fresh["invocations"])
        assert progress["status"] == "running"

        async with build_worker(temporal, worker_settings, task_queue=task_queue):
            while True:  # the background query finds the worker back: fresh answers again
                body = await _status(http, run_id)
                if body["state"] == "COMPLETED":
                    break
                assert body["progress"]["pipes_done"] >= done_before
                await asyncio.sleep(0.1)
        assert "stale" not in body["progress"]
        assert body["progress"]["pipes_done"] == body["progress"]["pipes_total"] == STEPS + 1
