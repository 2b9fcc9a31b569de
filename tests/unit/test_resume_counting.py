"""The pure and storage sides of counting reuse (issue 19): `reused_from` on the invocation's progress
entry, reused counts through chunk results and the batch seal, and payloads that keep their old shape
while nothing is reused; the memo lookup activity answering many tasks at once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from shared.language.report import BundleSource
from shared.runs.batch_io import BatchEnd, ChunkOutputTask, SealBatchTask
from shared.runs.invocations import invocations
from shared.runs.memo_io import MemoLookupAnswer, MemoLookupTask
from shared.runs.progress_log import ProgressLog
from shared.runs.workflow_io import MemoScope, OperatorAnswer, OperatorTask, ProgressCounters, StuffPayload
from shared.runtime.function_registry import FunctionRegistry
from shared.runtime.operator_call import OperatorCall, Produced
from shared.runtime.run_pipeline import RunRequest, run_pipeline
from shared.storage.blob_store import LocalBlobStore
from shared.storage.memo_store import MemoEntry, put_entry
from shared.storage.run_storage import put_json, put_method
from tests.helpers.methods import library_of
from worker.activities.batch_items import BatchActivities, chunk_key
from worker.activities.memo_lookup import MemoLookupActivities
from worker.memo_steps import MemoSteps
from worker.method_cache import MethodCache

TWO_STEPS = """
domain = "tags"

[pipe.first]
type = "PipeLLM"
description = "First tag"
inputs = { name = "Text" }
output = "Text"
prompt = "Tag $name"

[pipe.second]
type = "PipeLLM"
description = "Second tag"
inputs = { tagged = "Text" }
output = "Text"
prompt = "Again $tagged"

[pipe.both]
type = "PipeSequence"
description = "Both tags"
inputs = { name = "Text" }
output = "Text"
steps = [{ pipe = "first", result = "tagged" }, { pipe = "second", result = "retagged" }]
"""


class HalfReusedExecutor:
    """Answers `first` as the memo would (from run `run-0`), and runs `second`."""

    async def run_operator(self, call: OperatorCall) -> Produced:
        if call.pipe.code == "first":
            return Produced({"text": "tagged"}, reused_from="run-0")
        return Produced({"text": "retagged"})


async def test_a_reused_invocation_names_its_run_on_its_end_and_entry_and_no_other_does() -> None:
    library = library_of(TWO_STEPS)
    log = ProgressLog("run-1", now=lambda: "2026-12-03T00:00:00.000000Z")
    request = RunRequest(pipe_ref="tags.both", inputs={"name": "Ada"})
    await run_pipeline(library, request, HalfReusedExecutor(), listener=log)
    finished = {event.data["pipe_code"]: event.data for event in log.events if event.event == "pipe.finished"}
    assert finished["first"]["reused_from"] == "run-0"
    assert "reused_from" not in finished["second"]
    assert "reused_from" not in finished["both"]
    entries = {entry["pipe_code"]: entry for entry in invocations(log.events)}
    assert entries["first"]["reused_from"] == "run-0"
    assert "reused_from" not in entries["second"]


def test_payloads_keep_their_old_shape_while_nothing_is_reused() -> None:
    assert "reused_invocations" not in BatchEnd(total=1, done=1, failed=0).model_dump()
    assert "reused_invocations" not in ProgressCounters().model_dump()
    plain = ChunkOutputTask(out_prefix="p", index=0, part=0, outputs=[], last=True)
    assert "reused_cost_usd" not in plain.model_dump()
    reused = BatchEnd(total=1, done=1, failed=0, reused_invocations=1, reused_cost_usd=0.25)
    assert BatchEnd.model_validate(reused.model_dump()) == reused
    assert ProgressCounters(reused_invocations=2).model_dump()["reused_invocations"] == 2


async def test_the_seal_adds_up_the_chunks_reused_counts_old_chunk_results_counting_none(
    tmp_path: Path,
) -> None:
    store = LocalBlobStore(tmp_path)
    batches = BatchActivities(store)
    environment = ActivityEnvironment()
    for index, (reused, cost) in enumerate([(3, 0.5), (2, None)]):
        task = ChunkOutputTask(
            out_prefix="batch",
            index=index,
            part=0,
            outputs=[{"text": f"out-{index}"}],
            last=True,
            part_counts=[1],
            done=1,
            reused_invocations=reused,
            reused_cost_usd=cost,
        )
        await environment.run(batches.store_chunk_output, task)
    # A chunk result written by a worker from before resume: no reused counts at all.
    page = put_json(store, f"{chunk_key('batch', 2)}/000000.json", [{"text": "out-2"}])
    put_json(
        store,
        f"{chunk_key('batch', 2)}.json",
        {
            "done": 1,
            "failed": 0,
            "parts": [{"uri": page, "count": 1}],
            "failure_records": [],
            "failure_records_uris": [],
            "usages": [],
            "usages_uris": [],
            "concept": None,
        },
    )
    seal = SealBatchTask(out_prefix="batch", chunks=3, total=3, inline_max_bytes=10_000, done=3, failed=0)
    end: BatchEnd = await environment.run(batches.seal_batch, seal)
    assert (end.reused_invocations, end.reused_cost_usd) == (5, 0.5)
    assert end.items == [{"text": "out-0"}, {"text": "out-1"}, {"text": "out-2"}]


def _task(store_method: str, name: str, memo: MemoScope | None) -> OperatorTask:
    return OperatorTask(
        run_id="run-2",
        storage_prefix="tenant",
        method_digest=store_method,
        pipe_ref="tags.first",
        inputs={"name": StuffPayload(name="name", code="c1", concept="native.Text", content={"text": name})},
        output_concept="native.Text",
        seed="run-2:tags.first",
        memo=memo,
    )


@pytest.mark.parametrize("budget", [10_000, 10], ids=["answers-fit", "answers-over-budget"])
async def test_the_memo_lookup_answers_hits_and_misses_of_many_tasks_at_once(
    tmp_path: Path, budget: int
) -> None:
    store = LocalBlobStore(tmp_path)
    digest = put_method(store, [BundleSource(path="tags.mthds", text=TWO_STEPS)])
    methods, memo = MethodCache(store), MemoSteps(store, FunctionRegistry())
    scope = MemoScope(reuse_runs=["run-1"])
    hit, miss, unscoped = _task(digest, "Ada", scope), _task(digest, "Bob", scope), _task(digest, "Ada", None)
    stored = OperatorAnswer(content={"text": "tagged Ada"}, concept="native.Text")
    key = memo.key(hit, methods.library(digest))
    assert key is not None
    entry = MemoEntry(
        run_id="run-1", pipe_ref="tags.first", created_at=datetime.now(UTC).isoformat(), answer=stored
    )
    put_entry(store, "tenant", key, entry)
    lookups = MemoLookupActivities(methods, memo)
    task = MemoLookupTask(tasks=[hit, miss, unscoped], max_answer_bytes=budget)
    answer: MemoLookupAnswer = await ActivityEnvironment().run(lookups.memo_lookup, task)
    assert answer.missing == [1]  # the unscoped task is neither: its own activity decides
    if budget > 100:
        assert answer.answers == {0: stored.model_copy(update={"reused_from": "run-1"})}
    else:
        assert answer.answers == {}  # found, but over the answer's budget: its operator activity answers
