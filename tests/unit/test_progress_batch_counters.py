"""The progress log's batch counters (`counters.batch`): which batch they name, and with what counts.

A batch run by a batch workflow runs no item in the run's own log: it is open from its fan-out until its
final counts arrive, and the API lays the batch workflow's live counts over it (api/batch_progress.py).
"""

from __future__ import annotations

from shared.language.library import Library
from shared.runs.progress_log import ProgressLog
from shared.runs.run_states import RunState
from shared.runtime.call_site import InvocationPath
from tests.helpers.methods import library_of

STEPS = """
domain = "stall"

[pipe.label_all]
type = "PipeBatch"
description = "One label per crate"
inputs = { crates = "Text[]" }
output = "Text[]"
branch_pipe_code = "label_one"
input_list_name = "crates"
input_item_name = "crate"

[pipe.prepare]
type = "PipeSequence"
description = "A label per crate, then a title"
inputs = { crates = "Text[]", produce = "Text" }
output = "Text"
steps = [
  { pipe = "label_one", batch_over = "crates", batch_as = "crate", result = "labels" },
  { pipe = "title", result = "heading" },
]

[pipe.title]
type = "PipeCompose"
description = "Title"
inputs = { produce = "Text" }
output = "Text"
template = "Fresh $produce"

[pipe.label_one]
type = "PipeCompose"
description = "Label"
inputs = { crate = "Text" }
output = "Text"
template = "Crate $crate"
"""


def _log() -> tuple[ProgressLog, Library]:
    return ProgressLog("run-1", now=lambda: "2026-11-23T00:00:00.000000Z"), library_of(STEPS)


def test_a_delegated_batch_over_step_is_open_until_its_final_counts() -> None:
    log, library = _log()
    sequence = InvocationPath.root("stall.prepare")
    step = sequence.step(1)
    log.pipe_started(library.pipes["stall.prepare"], sequence)
    log.batch_started(library.pipes["stall.prepare"], step, 5)
    # No item runs in this log (a batch workflow runs them), yet the batch is open and named by its path.
    assert log.counters().batch == {
        "path": "stall.prepare/step_1",
        "pipe_code": "prepare",
        "total": 5,
        "done": 0,
        "running": 0,
        "failed": 0,
    }
    # Ended by a failed item (`batch_failures: "fail"`): the items not run are not counted, yet it is over.
    log.batch_counted(step, done=3, failed=1)
    assert log.counters().batch is None
    log.pipe_started(library.pipes["stall.title"], sequence.step(2))
    assert log.counters().batch is None


def test_an_inline_batch_counts_its_items_as_they_end() -> None:
    log, library = _log()
    batch = InvocationPath.root("stall.label_all")
    log.pipe_started(library.pipes["stall.label_all"], batch)
    log.batch_started(library.pipes["stall.label_all"], batch, 3)
    for number in (1, 2, 3):
        log.pipe_started(library.pipes["stall.label_one"], batch.item(number))
    log.pipe_finished(library.pipes["stall.label_one"], batch.item(1), "done")
    log.pipe_finished(library.pipes["stall.label_one"], batch.item(2), "failed")
    counts = log.counters().batch
    assert counts is not None
    assert (counts["path"], counts["done"], counts["failed"], counts["running"]) == (
        "stall.label_all",
        1,
        1,
        1,
    )


def test_an_ended_run_keeps_the_final_counts_of_its_last_batch() -> None:
    log, library = _log()
    batch = InvocationPath.root("stall.label_all")
    log.pipe_started(library.pipes["stall.label_all"], batch)
    log.batch_started(library.pipes["stall.label_all"], batch, 300)
    log.batch_counted(batch, done=298, failed=2)
    log.pipe_finished(library.pipes["stall.label_all"], batch, "done")
    assert log.counters().batch is None  # ended, but the run has not yet
    events = len(log.events)
    log.set_state(RunState.COMPLETED)
    counts = log.counters().batch
    assert counts is not None
    assert (counts["done"], counts["failed"], counts["total"], counts["running"]) == (298, 2, 300, 0)
    # The counters are the query's answer only: the log records exactly what it did before.
    assert [event.event for event in log.events[events:]] == ["run.state"]
