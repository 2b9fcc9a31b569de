"""`LOG_FORMAT=json` in real processes: the API under uvicorn and `methodflow worker` write only JSON lines,
the API's carrying the request id, the worker's the run id, tenant and activity of the work they log."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from api.auth import SINGLE_TENANT
from tests.helpers.api_server import REPO_ROOT, free_port
from tests.helpers.callback_receiver import CallbackReceiver, serving
from tests.helpers.run_stack import run_stack
from tests.helpers.worker_process import worker_environment, worker_processes
from tests.integration.test_callbacks import API, SECRET, eventually
from tests.integration.test_runs import greet_body


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of a log, each of which must be one JSON object with the four members of a line."""
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    for line in lines:
        assert {"ts", "level", "logger", "message"} <= set(line), line
    return lines


def test_the_api_writes_json_lines_carrying_the_request_id(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "api.main:create_app", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "info"]
    env = {**os.environ, "LOG_FORMAT": "json", "LOG_LEVEL": "INFO", "DATA_DIR": str(tmp_path)}
    log_path = tmp_path / "api.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False) as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    answer = client.get("/health", headers={"X-Request-ID": "json-logs-req-1"})
                    break
                except httpx.TransportError:
                    assert process.poll() is None, log_path.read_text()
                    assert time.monotonic() < deadline, "the API did not answer"
                    time.sleep(0.05)
            assert answer.status_code == 200
            assert client.get("/nowhere").status_code == 404
    finally:
        process.terminate()
        process.wait(timeout=10)
    lines = json_lines(log_path.read_text(encoding="utf-8"))
    ready = [line for line in lines if line["message"].startswith("methodflow API ready")]
    assert [line["logger"] for line in ready] == ["api.main"]
    access = [line for line in lines if line["logger"] == "uvicorn.access" and "/health" in line["message"]]
    assert [line.get("request_id") for line in access] == ["json-logs-req-1"]
    unknown = [line for line in lines if line["logger"] == "uvicorn.access" and "/nowhere" in line["message"]]
    assert len(unknown) == 1
    assert unknown[0]["request_id"] not in ("", "json-logs-req-1")  # the one generated for it


async def test_the_worker_writes_json_lines_naming_the_run_of_an_activity(
    temporal_address: str, tmp_path: Path
) -> None:
    async with (
        serving(CallbackReceiver([200])) as receiver,
        run_stack(temporal_address, tmp_path, worker=False, api_overrides=API) as stack,
    ):
        env = worker_environment(
            temporal_address,
            stack.task_queue,
            tmp_path,
            LOG_FORMAT="json",
            COMPLETION_CALLBACK_SECRET=SECRET,
            ALLOW_PRIVATE_CALLBACK_URLS="true",
        )
        with worker_processes(env, tmp_path) as workers:
            worker = workers.start()
            await worker.wait_polling()
            body = greet_body(pipeline_run_id="json-logs-run", callback_urls=[receiver.url])
            assert (await stack.client.post("/v1/start", json=body)).status_code == 202
            await eventually(lambda: asyncio.sleep(0, receiver.answered(200)), what="the delivery")

            def delivery_lines() -> list[dict[str, Any]]:
                return [
                    line for line in json_lines(worker.log()) if line["message"].startswith("callback run=")
                ]

            await eventually(lambda: asyncio.sleep(0, delivery_lines()), what="the delivery's log line")
    (line,) = delivery_lines()
    assert line["logger"] == "worker.activities.callbacks"
    assert line["level"] == "INFO"
    assert (line["run_id"], line["tenant"], line["activity"]) == (
        "json-logs-run",
        SINGLE_TENANT,
        "deliver_callback",
    )
