"""Contents by reference over a real Temporal dev server and real HTTP (issue 14): a content over 256 KiB
is stored once and moves through workflow code as a marker; what must read it (a condition, a
compose, an operator) runs in an activity that reads it back. No payload error, whatever its size.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.api_server import assert_problem
from tests.helpers.big_functions import COUNT
from tests.helpers.run_stack import run_stack
from tests.integration.test_run_bad_input import BATCH

ARCHIVE = """
[concept.Archive]
description = "A text kept with its label"

[concept.Archive.structure]
body = { type = "text", description = "The text", required = true }
label = { type = "text", description = "Why it was kept", required = true }
"""

# The copies are constructs: a template prints at most 1,000,000 characters (the render budget), a
# construct moves a value as it is.
CARRY = (
    """domain = "big"
main_pipe = "carry"
"""
    + ARCHIVE
    + """
[pipe.carry]
type = "PipeSequence"
description = "Routes a long text by its length, copies it, then archives the copy"
inputs = { doc = "Text" }
output = "Archive"
steps = [
  { pipe = "route", result = "copied" },
  { pipe = "archive", result = "archived" },
]

[pipe.route]
type = "PipeCondition"
description = "Copies a long text, refuses a short one"
inputs = { doc = "Text" }
output = "Text"
expression = "'long' if doc.text|length > 1000000 else 'short'"
outcomes = { long = "copy", short = "fail" }
default_outcome = "fail"

[pipe.copy]
type = "PipeCompose"
description = "Copies the text"
inputs = { doc = "Text" }
output = "Text"

[pipe.copy.construct]
text = { from = "doc.text" }

[pipe.archive]
type = "PipeCompose"
description = "Archives the copy"
inputs = { copied = "Text" }
output = "Archive"

[pipe.archive.construct]
body = { from = "copied.text" }
label = "long"
"""
)

# Binding steps that walk into a stored input: the operator activity reads it back and walks it; the
# long body it reaches is stored again, the short label comes back inline.
PICK = (
    """domain = "pick"
main_pipe = "pick"
"""
    + ARCHIVE
    + """
[pipe.pick]
type = "PipeSequence"
description = "Takes an archive apart, then builds it again"
inputs = { doc = "Archive" }
output = "Archive"
steps = [
  { from = "doc.label", result = "label" },
  { from = "doc.body", result = "body" },
  { pipe = "rebuild", result = "rebuilt" },
]

[pipe.rebuild]
type = "PipeCompose"
description = "Builds an archive from its parts"
inputs = { body = "Text", label = "Text" }
output = "Archive"

[pipe.rebuild.construct]
body = { from = "body.text" }
label = { from = "label.text" }

[pipe.labels]
type = "PipeSequence"
description = "The label of every archive"
inputs = { docs = "Archive[]" }
output = "Text[]"
steps = [{ from = "docs.label", result = "labels" }]
"""
)

COUNT_ALL = f"""domain = "counting"
main_pipe = "count_words"

[pipe.count_words]
type = "PipeFunc"
description = "Counts the words"
inputs = {{ words = "Text[]" }}
output = "Text"
function_name = "{COUNT}"
"""


@pytest.mark.timeout(300)
async def test_a_20_mb_text_flows_through_a_sequence_a_condition_and_compositions(
    temporal_address: str, tmp_path: Path
) -> None:
    text = "".join(f"line {index:07d} of a long extracted text\n" for index in range(550_000))
    assert len(text.encode("utf-8")) > 20_000_000
    run_id = f"big-text-{uuid.uuid4()}"
    async with run_stack(temporal_address, tmp_path) as stack:
        body = {"mthds_contents": [CARRY], "inputs": {"doc": text}, "pipeline_run_id": run_id}
        executed = await stack.client.post("/v1/execute", json=body, timeout=300)
        assert executed.status_code == 200, executed.text[:500]
        answer = executed.json()
        results = await stack.client.get(f"/v1/runs/{run_id}/results?artifacts=main_stuff", timeout=120)
    assert answer["state"] == "COMPLETED"
    main = answer["pipe_output"]["working_memory"]["root"][answer["main_stuff_name"]]
    assert main["content"] == {"body": text, "label": "long"}
    assert results.json()["main_stuff"] == {"body": text, "label": "long"}


async def test_a_100000_item_list_sent_inline_is_accepted_and_read_by_an_activity(
    temporal_address: str, tmp_path: Path
) -> None:
    words = [f"w{index}" for index in range(100_000)]  # about 900 KB of JSON: stored by the API
    async with run_stack(temporal_address, tmp_path) as stack:
        body = {"mthds_contents": [COUNT_ALL], "inputs": {"words": words}}
        executed = await stack.client.post("/v1/execute", json=body, timeout=120)
    assert executed.status_code == 200, executed.text[:500]
    answer = executed.json()
    assert answer["pipe_output"]["working_memory"]["root"][answer["main_stuff_name"]]["content"] == {
        "text": "100000"
    }


async def test_a_batch_over_a_stored_input_list_runs_in_order(temporal_address: str, tmp_path: Path) -> None:
    words = [f"w{index}" for index in range(2500)]
    run_id = f"stored-list-{uuid.uuid4()}"
    # A 1 KiB threshold: the API stores the list, and the batch's chunks read it from its pages.
    async with run_stack(temporal_address, tmp_path, api_overrides={"content_inline_max_kib": 1}) as stack:
        body = {"mthds_contents": [BATCH], "inputs": {"words": words}, "pipeline_run_id": run_id}
        started = await stack.client.post("/v1/start", json=body)
        assert started.status_code == 202, started.text[:500]
        status = await stack.wait_for_end(run_id, within=100)
        assert status["state"] == "COMPLETED", status
        page = await stack.client.get(f"/v1/runs/{run_id}/results/items?offset=2490&limit=20")
        record = (await stack.client.get(f"/v1/runs/{run_id}")).json()
    assert page.json()["total"] == 2500
    assert page.json()["items"] == [{"text": f"<w{index}>"} for index in range(2490, 2500)]
    assert record["state"] == "COMPLETED"
    # The run record shows the stored input read back (in its checked form), not the service's marker.
    assert record["inputs"]["words"]["content"]["items"] == [{"text": word} for word in words]


async def test_a_list_over_the_body_limit_is_refused_naming_it(temporal_address: str, tmp_path: Path) -> None:
    words = [f"word-{index:08d}" for index in range(100_000)]  # about 1.6 MB of JSON
    async with run_stack(temporal_address, tmp_path, api_overrides={"max_request_body_mib": 1}) as stack:
        body = {"mthds_contents": [BATCH], "inputs": {"words": words}}
        refused = await stack.client.post("/v1/start", json=body)
    problem = assert_problem(refused, 413, "request.too_large")
    assert problem["params"]["limit"] == 1024 * 1024


async def test_inputs_shaped_as_stored_markers_are_refused(temporal_address: str, tmp_path: Path) -> None:
    # A caller's marker could name storage that is not theirs: only the service writes them.
    marker = {"$ref": "pipelex-storage://someone-else/runs/x/inputs/stored/doc.json", "kind": "content"}
    async with run_stack(temporal_address, tmp_path, worker=False) as stack:
        body = {"mthds_contents": [CARRY], "inputs": {"doc": {"concept": "Text", "content": marker}}}
        refused = await stack.client.post("/v1/start", json=body)
    problem = assert_problem(refused, 422, "pipelex.security.reserved_key")
    assert problem["params"]["keys"] == ["$ref"]


def stored_input_folders(data_dir: Path, run_id: str) -> list[Path]:
    """The folders of large inputs the API stored for `run_id` (one per request that stored some)."""
    return sorted((data_dir / "storage").glob(f"**/{run_id}/inputs/stored/*"))


async def test_a_request_refused_after_its_inputs_were_stored_leaves_none_behind(
    temporal_address: str, tmp_path: Path
) -> None:
    # The 1 MB text is stored first; then the run's input, which still carries the bundle, is found
    # over Temporal's 2 MB: 413, and no file of that request stays.
    padded = CARRY + "".join(
        f"# padding line {index:07d} of a bundle too large to travel\n" for index in range(60_000)
    )
    run_id = f"refused-late-{uuid.uuid4()}"
    async with run_stack(temporal_address, tmp_path, worker=False) as stack:
        body = {"mthds_contents": [padded], "inputs": {"doc": "x" * 1_000_000}, "pipeline_run_id": run_id}
        refused = await stack.client.post("/v1/start", json=body)
    problem = assert_problem(refused, 413, "request.too_large")
    assert problem["params"]["field"] == "mthds_contents"
    assert stored_input_folders(tmp_path, run_id) == []


async def test_a_conflicting_request_neither_overwrites_nor_leaves_stored_inputs(
    temporal_address: str, tmp_path: Path
) -> None:
    # Each request stores its large inputs in its own folder: the second request under the same run id
    # (another text: 409) cannot write over the first run's, and removes its own.
    run_id = f"conflict-{uuid.uuid4()}"
    first_text = "a" * 1_100_000 + " first"
    async with run_stack(temporal_address, tmp_path) as stack:
        first: dict[str, Any] = {
            "mthds_contents": [CARRY],
            "inputs": {"doc": first_text},
            "pipeline_run_id": run_id,
        }
        assert (await stack.client.post("/v1/start", json=first)).status_code == 202
        kept = stored_input_folders(tmp_path, run_id)
        second = {**first, "inputs": {"doc": "b" * 1_100_000 + " second"}}
        conflict = await stack.client.post("/v1/start", json=second)
        assert_problem(conflict, 409, "request.idempotency_conflict")
        assert stored_input_folders(tmp_path, run_id) == kept
        again = await stack.client.post("/v1/start", json=first)  # the same request: the same run
        assert again.status_code == 200, again.text[:300]
        assert stored_input_folders(tmp_path, run_id) == kept
        status = await stack.wait_for_end(run_id, within=100)
        results = await stack.client.get(f"/v1/runs/{run_id}/results?artifacts=main_stuff", timeout=60)
    assert len(kept) == 1
    assert status["state"] == "COMPLETED", status
    assert results.json()["main_stuff"] == {"body": first_text, "label": "long"}


async def test_binding_steps_walk_into_stored_inputs(temporal_address: str, tmp_path: Path) -> None:
    body_text = "".join(f"paragraph {index:06d} of a long archived text\n" for index in range(30_000))
    archive = {"body": body_text, "label": "kept"}
    docs = [{"body": f"text {index} " + "x" * 100, "label": f"label-{index}"} for index in range(3000)]
    async with run_stack(temporal_address, tmp_path) as stack:
        one = {"mthds_contents": [PICK], "inputs": {"doc": {"concept": "Archive", "content": archive}}}
        rebuilt = await stack.client.post("/v1/execute", json=one, timeout=120)
        many = {
            "mthds_contents": [PICK],
            "pipe_code": "labels",
            "inputs": {"docs": {"concept": "Archive", "content": docs}},
        }
        labels = await stack.client.post("/v1/execute", json=many, timeout=120)
    assert rebuilt.status_code == 200, rebuilt.text[:500]
    answer = rebuilt.json()
    assert answer["state"] == "COMPLETED"
    assert answer["pipe_output"]["working_memory"]["root"][answer["main_stuff_name"]]["content"] == archive
    assert labels.status_code == 200, labels.text[:500]
    listed = labels.json()
    assert listed["pipe_output"]["working_memory"]["root"][listed["main_stuff_name"]]["content"] == {
        "items": [{"text": f"label-{index}"} for index in range(3000)]
    }
