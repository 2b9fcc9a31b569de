"""Failed batch items (`shared/runtime/batch_failures.py`): by default the run fails naming the item and
nothing else starts; under `collect` the item is dropped and recorded, at any nesting depth."""

from __future__ import annotations

import asyncio

import pytest

from shared.runtime.batch_failures import BatchFailureMode, ItemFailure
from shared.runtime.call_site import RunOptions
from shared.runtime.operator_call import OperatorCall, Produced
from shared.runtime.run_failure import FailureCode, PipeRunError
from shared.runtime.run_pipeline import RunOutcome, RunRequest, run_pipeline
from tests.helpers.methods import library_of

YARD = """
domain = "yard"
description = "Crates checked one by one"

[pipe.check_all]
type = "PipeBatch"
description = "Checks every crate"
inputs = { crates = "Text[]" }
output = "Text[]"
branch_pipe_code = "check_one"
input_list_name = "crates"
input_item_name = "crate"

[pipe.check_one]
type = "PipeLLM"
description = "Checks one crate"
inputs = { crate = "Text" }
output = "Text"
prompt = "Check $crate"

[pipe.check_groups]
type = "PipeBatch"
description = "Checks every group of crates"
inputs = { groups = "Text[]" }
output = "Text[]"
branch_pipe_code = "check_group"
input_list_name = "groups"
input_item_name = "group"

[pipe.check_group]
type = "PipeSequence"
description = "Splits a group into crates, then checks them"
inputs = { group = "Text" }
output = "Text[]"
steps = [
  { pipe = "split", result = "crates" },
  { pipe = "check_all", result = "checked" },
]

[pipe.split]
type = "PipeLLM"
description = "Splits a group"
inputs = { group = "Text" }
output = "Text[3]"
prompt = "Split $group"
"""


class YardExecutor:
    """Fails the crates named in `failing`; holds every other crate until released (or cancelled)."""

    def __init__(self, failing: set[str], *, hold: bool = False) -> None:
        self.failing = failing
        self.hold = hold
        self.started: list[str] = []
        self.cancelled: list[str] = []
        self.release = asyncio.Event()

    async def run_operator(self, call: OperatorCall) -> Produced:
        if call.pipe.code == "split":
            group = call.inputs["group"].content["text"]
            return Produced.of_items([{"text": f"{group}-{number}"} for number in range(1, 4)])
        crate = call.inputs["crate"].content["text"]
        self.started.append(crate)
        if crate in self.failing:
            raise PipeRunError(
                FailureCode.FUNCTION_FAILED, f"crate {crate} is broken", params={"crate": crate}
            )
        if self.hold:
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.cancelled.append(crate)
                raise
        return Produced({"text": f"checked {crate}"})


async def run_yard(
    pipe: str, inputs: dict[str, list[str]], executor: YardExecutor, options: RunOptions
) -> RunOutcome:
    library = library_of(YARD)
    return await run_pipeline(library, RunRequest(f"yard.{pipe}", inputs), executor, options)


async def test_by_default_a_failed_item_fails_the_run_naming_its_index_and_nothing_else_starts() -> None:
    crates = [f"c{index}" for index in range(50)]
    executor = YardExecutor({"c5"}, hold=True)
    with pytest.raises(PipeRunError) as raised:
        await run_yard("check_all", {"crates": crates}, executor, RunOptions())
    failure = raised.value
    assert failure.code == FailureCode.FUNCTION_FAILED
    assert failure.pipe == "check_one"  # the pipe that failed...
    assert failure.params == {  # ...the batch, and the item, 0-based, whose invocation path counts from 1
        "crate": "c5",
        "batch_pipe": "check_all",
        "item_index": 5,
        "item_path": "yard.check_all/item_6",
    }
    assert failure.message == "item 5 (0-based) of the batch 'check_all' failed: crate c5 is broken"
    await asyncio.sleep(0)  # the cancels are delivered at the loop's next step
    # The eight in flight were cancelled; the failure let no later item start.
    assert executor.started == crates[:8]
    assert sorted(executor.cancelled) == sorted(set(crates[:8]) - {"c5"})


async def test_collect_drops_failed_items_keeps_the_order_and_records_each_in_item_order() -> None:
    crates = [f"c{index}" for index in range(30)]
    failed: list[ItemFailure] = []
    options = RunOptions(batch_failures=BatchFailureMode.COLLECT, failed_items=failed)
    outcome = await run_yard("check_all", {"crates": crates}, YardExecutor({"c25", "c3", "c10"}), options)
    kept = [crate for crate in crates if crate not in {"c3", "c10", "c25"}]
    assert outcome.main_json() == {"items": [{"text": f"checked {crate}"} for crate in kept]}
    assert [(item.batch_pipe, item.item_index, item.path) for item in failed] == [
        ("check_all", 3, "yard.check_all/item_4"),
        ("check_all", 10, "yard.check_all/item_11"),
        ("check_all", 25, "yard.check_all/item_26"),
    ]
    record = failed[0].record("run-7")
    assert {key: record[key] for key in ("pipe", "path", "item_index")} == {
        "pipe": "check_all",
        "path": "yard.check_all/item_4",
        "item_index": 3,
    }
    problem = record["problem"]
    assert problem["code"] == "pipe.function_failed"
    assert problem["pipeline_run_id"] == "run-7"
    assert problem["location"]["pipe"] == "check_one"
    assert problem["params"]["item_index"] == 3
    assert problem["detail"] == "Item 3 (0-based) of the batch 'check_all' failed: crate c3 is broken."


async def test_collect_records_an_inner_batch_item_with_its_full_path() -> None:
    failed: list[ItemFailure] = []
    options = RunOptions(batch_failures=BatchFailureMode.COLLECT, failed_items=failed)
    outcome = await run_yard("check_groups", {"groups": ["g0", "g1"]}, YardExecutor({"g1-2"}), options)
    assert outcome.main_json() == {
        "items": [
            {"items": [{"text": "checked g0-1"}, {"text": "checked g0-2"}, {"text": "checked g0-3"}]},
            {"items": [{"text": "checked g1-1"}, {"text": "checked g1-3"}]},
        ]
    }
    assert [(item.batch_pipe, item.item_index, item.path) for item in failed] == [
        ("check_all", 1, "yard.check_groups/item_2/step_2/item_2")
    ]


async def test_by_default_an_inner_item_failure_names_the_inner_item() -> None:
    with pytest.raises(PipeRunError) as raised:
        await run_yard("check_groups", {"groups": ["g0", "g1"]}, YardExecutor({"g1-3"}), RunOptions())
    params = raised.value.params
    assert (params["batch_pipe"], params["item_index"]) == ("check_all", 2)
    assert params["item_path"] == "yard.check_groups/item_2/step_2/item_3"


async def test_collect_never_hides_a_fault_of_the_whole_run() -> None:
    invocations = 0

    async def pace() -> None:
        nonlocal invocations
        invocations += 1
        if invocations > 5:  # the run's history is spent: no item may go on
            raise PipeRunError(FailureCode.HISTORY_EXHAUSTED, "the run has recorded too many events")

    failed: list[ItemFailure] = []
    options = RunOptions(batch_failures=BatchFailureMode.COLLECT, failed_items=failed, pace=pace)
    with pytest.raises(PipeRunError) as raised:
        await run_yard(
            "check_all", {"crates": [f"c{index}" for index in range(20)]}, YardExecutor(set()), options
        )
    assert raised.value.code == FailureCode.HISTORY_EXHAUSTED
    assert failed == []
