"""The progress log's counters and the invocations built from its events (http-api.md §9.4, §9.5)."""

from __future__ import annotations

from shared.runs.invocations import invocations
from shared.runs.progress_log import ProgressLog
from shared.runtime.call_site import InvocationPath
from tests.helpers.methods import library_of

NESTED = """
domain = "nest"

[pipe.inner]
type = "PipeCompose"
description = "Inner"
inputs = { name = "Text" }
output = "Text"
template = "{{ name }}"

[pipe.outer]
type = "PipeSequence"
description = "Outer"
inputs = { name = "Text" }
output = "Text"
steps = [{ pipe = "inner", result = "out" }]
"""


def test_the_current_pipe_is_the_innermost_running_one_even_at_one_instant() -> None:
    library = library_of(NESTED)
    log = ProgressLog("run-1", now=lambda: "2026-11-23T00:00:00.000000Z")  # one workflow instant
    outer = InvocationPath.root("nest.outer")
    log.pipe_started(library.pipes["nest.outer"], outer)
    log.pipe_started(library.pipes["nest.inner"], outer.step(1))
    assert log.counters().current_pipe == "inner"
    log.pipe_finished(library.pipes["nest.inner"], outer.step(1), "done")
    assert log.counters().current_pipe == "outer"


def test_a_running_invocation_shows_when_it_started() -> None:
    library = library_of(NESTED)
    log = ProgressLog("run-1", now=lambda: "2026-11-23T00:00:01.000000Z")
    log.pipe_started(library.pipes["nest.outer"], InvocationPath.root("nest.outer"))
    [item] = invocations(log.view().events)
    assert item["status"] == "running"
    assert item["started_at"] == "2026-11-23T00:00:01.000000Z"
