"""A worker started with an unusable pool, route or version stops at once with exit code 2 and a message
naming the setting, before it connects anywhere (no Temporal is running for these)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers.worker_process import REPO_ROOT
from worker.dev_server import free_port


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (
            ["--pool", "gpu"],
            {"TASK_QUEUE_ROUTES": "llm=llm,func=cpu"},
            "error: unknown worker pool 'gpu' (pools of TASK_QUEUE_ROUTES: all, main, callbacks, cpu, llm)",
        ),
        (
            [],
            {"WORKER_POOL": "llm"},
            "error: unknown worker pool 'llm' (pools of TASK_QUEUE_ROUTES: all, main, callbacks)",
        ),
        (
            [],
            {"TASK_QUEUE_ROUTES": "gpu=fast"},
            "TASK_QUEUE_ROUTES entry 1 ('gpu=fast') names no operator kind",
        ),
        ([], {"TASK_QUEUE_ROUTES": "llm=callbacks"}, "names an unusable pool"),
        (
            [],
            {"WORKER_BUILD_ID": "2026.12.03"},
            "WORKER_DEPLOYMENT_NAME and WORKER_BUILD_ID are set together",
        ),
    ],
    ids=["unknown-pool-flag", "unknown-pool-setting", "unknown-kind", "reserved-pool", "half-versioned"],
)
def test_an_unusable_pool_route_or_version_stops_the_worker_with_exit_two(
    args: list[str], env: dict[str, str], message: str
) -> None:
    environment = {
        **{key: value for key, value in os.environ.items() if not key.startswith(("TASK_QUEUE", "WORKER_"))},
        # Nothing listens there: reaching the connection would fail differently (exit 1).
        "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-m", "worker", *args],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr
    assert "Traceback" not in done.stderr
