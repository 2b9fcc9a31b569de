"""A worker killed with SIGKILL mid-run: every run completes on a new worker, no completed step runs again.

The worker is a real process (`python -m worker`); the API is the test's, on the same task queue and
data dir. Each step records `(text, activity attempt)` when its body completes, so a re-execution of
completed work (the same text and attempt twice, or attempt 1 twice) is told from a legitimate retry of
work that was in flight at the kill (attempt 2+, which Temporal schedules only when no earlier attempt
was recorded as completed).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

from tests.helpers.function_bundles import chain_bundle
from tests.helpers.run_functions import COUNTED, read_counted
from tests.helpers.run_stack import RunStack, run_stack
from tests.helpers.worker_process import worker_environment, worker_processes

RUNS = 20
STEPS = 5


def step_text(name: str, step: int) -> str:
    """The text step `step` (1-based) of run `name` receives, hence records."""
    return name + "+" * (step - 1)


async def statuses(stack: RunStack, names: list[str]) -> dict[str, dict[str, Any]]:
    answers = await asyncio.gather(*(stack.client.get(f"/v1/runs/{name}/status") for name in names))
    return {name: answer.json() for name, answer in zip(names, answers, strict=True)}


async def wait_until_step_one_recorded(
    stack: RunStack, names: list[str], within: float = 60
) -> dict[str, dict[str, Any]]:
    """Poll until every run's history holds its first step's completion; return those statuses."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        current = await statuses(stack, names)
        if all(status.get("progress", {}).get("pipes_done", 0) >= 1 for status in current.values()):
            return current
        if asyncio.get_running_loop().time() > deadline:
            msg = f"not every run finished its first step within {within} s: {current}"
            raise AssertionError(msg)
        await asyncio.sleep(0.05)


async def test_runs_survive_a_killed_worker(temporal_address: str, tmp_path: Path) -> None:
    counter = tmp_path / "counter.txt"
    names = [f"crash-{index:02d}" for index in range(RUNS)]
    async with run_stack(temporal_address, tmp_path, worker=False) as stack:
        env = worker_environment(
            temporal_address,
            stack.task_queue,
            tmp_path,
            FUNCTION_MODULES="tests.helpers.run_functions",
            SLOW_SECONDS="1.5",
            COUNTER_FILE=str(counter),
            # Every run's step in flight at once, so the kill hits one activity of (nearly) every run.
            WORKER_MAX_CONCURRENT_ACTIVITIES=str(2 * RUNS),
            # An activity of the dead worker is noticed by its missing heartbeats and retried at once.
            # (Each 1.5 s step heartbeats at its start, well inside 4 s even on a loaded machine.)
            PIPE_ACTIVITY_HEARTBEAT_SECONDS="4",
            PIPE_ACTIVITY_INITIAL_INTERVAL_SECONDS="0.2",
            PIPE_ACTIVITY_MAX_INTERVAL_SECONDS="1",
            # The runs cached by the dead worker move to the new one after 1 s.
            WORKER_STICKY_TIMEOUT_SECONDS="1",
        )
        with worker_processes(env, tmp_path) as workers:
            first = workers.start()
            await first.wait_polling()
            bundle = chain_bundle(COUNTED, STEPS, "crash")
            started = await asyncio.gather(
                *(
                    stack.client.post(
                        "/v1/start",
                        json={"mthds_contents": [bundle], "inputs": {"name": name}, "pipeline_run_id": name},
                    )
                    for name in names
                )
            )
            assert [answer.status_code for answer in started] == [202] * RUNS, [a.text for a in started]

            before_kill = await wait_until_step_one_recorded(stack, names)
            first.kill()
            lines_at_kill = read_counted(counter)
            # The kill hit runs in the middle: all still running, not every step done.
            assert {status["state"] for status in before_kill.values()} == {"RUNNING"}, before_kill
            assert len(lines_at_kill) < RUNS * STEPS, lines_at_kill

            second = workers.start()
            await second.wait_polling()
            for name in names:
                final = await stack.wait_for_end(name, within=90)
                assert final["state"] == "COMPLETED", final
                results = await stack.client.get(f"/v1/runs/{name}/results")
                assert results.status_code == 200, results.text
                assert results.json()["main_stuff"] == {"text": name + "+" * STEPS}

            lines = read_counted(counter)
            # No completed execution repeated: each (text, attempt) once, so each text with distinct attempts.
            repeated = [line for line, count in Counter(lines).items() if count > 1]
            assert not repeated, repeated
            texts = {text for text, _ in lines}
            expected = {step_text(name, step) for name in names for step in range(1, STEPS + 1)}
            assert texts == expected, texts ^ expected
            # Steps recorded as completed before the kill never ran again: one line each, attempt 1.
            for name, status in before_kill.items():
                for step in range(1, min(status["progress"]["pipes_done"], STEPS) + 1):
                    text = step_text(name, step)
                    assert [line for line in lines if line[0] == text] == [(text, 1)], (text, lines)
            # Retries are the steps in flight at the kill: at most one per run (a sequence runs one step at
            # a time), and at least one, which proves the kill hit work in flight.
            retried = {text for text, attempt in lines if attempt >= 2}
            assert 1 <= len(retried) <= RUNS, sorted(lines)
