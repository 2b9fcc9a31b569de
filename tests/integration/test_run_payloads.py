"""What one run can hold. Large values in runs: big step outputs and results stay out of the way of Temporal's 2 MB payloads.

A step whose output or inputs would exceed what a payload may carry fails typed (`pipe.payload_too_large`,
naming the pipe) instead of leaving a workflow Temporal refuses to continue; a large final result is
stored and still read whole through `/results`.
"""

from __future__ import annotations

from pathlib import Path

from tests.helpers.api_server import assert_problem
from tests.helpers.big_functions import JOIN, MAKE
from tests.helpers.run_stack import run_stack

BIG = f"""domain = "big"

[pipe.make]
type = "PipeFunc"
description = "Makes a text of the given size"
inputs = {{ size = "Text" }}
output = "Text"
function_name = "{MAKE}"

[pipe.join]
type = "PipeFunc"
description = "Joins two texts"
inputs = {{ first = "Text", second = "Text" }}
output = "Text"
function_name = "{JOIN}"

[pipe.make_all]
type = "PipeBatch"
description = "One text per size"
inputs = {{ sizes = "Text[]" }}
output = "Text[]"
branch_pipe_code = "make"
input_list_name = "sizes"
input_item_name = "size"

[pipe.make_two_and_join]
type = "PipeSequence"
description = "Two texts, then their join"
inputs = {{ size = "Text" }}
output = "Text"
steps = [
  {{ pipe = "make", result = "first" }},
  {{ pipe = "make", result = "second" }},
  {{ pipe = "join", result = "joined" }},
]
"""


def _body(pipe: str, size: int, run_id: str) -> dict[str, object]:
    return {
        "mthds_contents": [BIG],
        "pipe_code": pipe,
        "inputs": {"size": str(size)},
        "pipeline_run_id": run_id,
    }


# Contents up to 4 MiB stay inline in workflow payloads here, as before contents moved by reference: the
# run's final memory is stored as a whole (and in parts), and a step over Temporal's limit fails typed.
INLINE_CONTENTS = {"content_inline_max_kib": 4096}


async def test_a_large_result_is_stored_and_read_whole(temporal_address: str, tmp_path: Path) -> None:
    async with run_stack(temporal_address, tmp_path, worker_overrides=INLINE_CONTENTS) as stack:
        answer = await stack.client.post(
            "/v1/execute", json=_body("make_two_and_join", 300_000, "run-big-ok")
        )
        assert answer.status_code == 200, answer.text[:500]
        joined = answer.json()["pipe_output"]["working_memory"]["root"]["joined"]["content"]["text"]
        assert len(joined) == 600_000
        results = await stack.client.get("/v1/runs/run-big-ok/results?artifacts=main_stuff")
        assert len(results.json()["main_stuff"]["text"]) == 600_000
        assert list((tmp_path / "storage").rglob("working_memory.json")), "the large memory went to storage"


async def test_a_result_over_the_payload_limit_is_stored_in_parts(
    temporal_address: str, tmp_path: Path
) -> None:
    async with run_stack(temporal_address, tmp_path, worker_overrides=INLINE_CONTENTS) as stack:
        answer = await stack.client.post(
            "/v1/execute", json=_body("make_two_and_join", 900_000, "run-big-parts")
        )
        assert answer.status_code == 200, answer.text[:500]
        results = await stack.client.get("/v1/runs/run-big-parts/results")
        root = results.json()["working_memory"]["root"]
        assert len(root["joined"]["content"]["text"]) == 1_800_000
        assert len(root["first"]["content"]["text"]) == 900_000
        assert len(list((tmp_path / "storage").rglob("working_memory.json.part-*"))) == 9


async def test_a_step_over_the_payload_limit_fails_typed(temporal_address: str, tmp_path: Path) -> None:
    async with run_stack(temporal_address, tmp_path, worker_overrides=INLINE_CONTENTS) as stack:
        too_big_output = await stack.client.post("/v1/execute", json=_body("make", 2_000_000, "run-big-out"))
        problem = assert_problem(too_big_output, 422, "pipe.payload_too_large")
        assert problem["location"]["pipe"] == "make"
        too_big_inputs = await stack.client.post(
            "/v1/execute", json=_body("make_two_and_join", 1_000_000, "run-big-in")
        )
        problem = assert_problem(too_big_inputs, 422, "pipe.payload_too_large")
        assert problem["location"]["pipe"] == "join"
        assert problem["params"]["size"] > problem["params"]["limit"]
        status = (await stack.client.get("/v1/runs/run-big-in/status")).json()
        assert status["state"] == "FAILED"


async def test_large_outputs_move_by_reference_and_never_meet_the_payload_limit(
    temporal_address: str, tmp_path: Path
) -> None:
    # With the default CONTENT_INLINE_MAX_KIB (256), the same outputs are stored by the activity that
    # made them, and the next step reads them back: no step carries them, none fails.
    async with run_stack(temporal_address, tmp_path) as stack:
        made = await stack.client.post("/v1/execute", json=_body("make", 2_000_000, "run-ref-out"))
        assert made.status_code == 200, made.text[:300]
        assert len(made.json()["pipe_output"]["working_memory"]["root"]["main_stuff"]["content"]["text"]) == (
            2_000_000
        )
        joined = await stack.client.post(
            "/v1/execute", json=_body("make_two_and_join", 1_000_000, "run-ref-in")
        )
        assert joined.status_code == 200, joined.text[:300]
        results = await stack.client.get("/v1/runs/run-ref-in/results?artifacts=main_stuff")
        assert results.json()["main_stuff"]["text"] == "x" * 2_000_000
    stored = list((tmp_path / "storage").rglob("contents/*.json"))
    assert len(stored) == 4, stored  # one made text, then two made texts and their join


async def test_a_run_longer_than_its_history_budget_fails_typed(
    temporal_address: str, tmp_path: Path
) -> None:
    # Temporal terminates a workflow at 51,200 history events; the run stops at its budget first.
    async with run_stack(
        temporal_address, tmp_path, worker_overrides={"run_history_event_budget": 60}
    ) as stack:
        body = {"mthds_contents": [BIG], "pipe_code": "make_all", "inputs": {"sizes": ["3"] * 40}}
        answer = await stack.client.post("/v1/execute", json={**body, "pipeline_run_id": "run-too-long"})
        problem = assert_problem(answer, 422, "pipe.history_exhausted")
        assert problem["params"]["limit"] == 60
        assert problem["params"]["events"] > 60
        assert problem["location"]["pipe"] == "make_all"
        within = await stack.client.post("/v1/execute", json={**body, "inputs": {"sizes": ["3"] * 5}})
        assert within.status_code == 200, within.text
