"""Invocation paths told to the pipe listener, per controller (http-api.md §9.5)."""

from __future__ import annotations

from typing import Any

from shared.language.library import PipeEntry
from shared.runtime.call_site import InvocationPath, RunOptions
from shared.runtime.dry_run_executor import DryRunExecutor
from shared.runtime.run_pipeline import RunRequest, run_pipeline
from tests.helpers.methods import library_of

Event = tuple[str, str, str, str | int | None]


class RecordingListener:
    """Keeps every notification as `(kind, pipe_ref, path, outcome or total)`, in call order."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def pipe_started(self, entry: PipeEntry, path: InvocationPath) -> None:
        self.events.append(("started", entry.ref, path.wire(), None))

    def pipe_finished(self, entry: PipeEntry, path: InvocationPath, outcome: str) -> None:
        self.events.append(("finished", entry.ref, path.wire(), outcome))

    def batch_started(self, entry: PipeEntry, path: InvocationPath, total: int) -> None:
        self.events.append(("batch", entry.ref, path.wire(), total))

    def batch_counted(self, path: InvocationPath, done: int, failed: int) -> None:
        self.events.append(("counted", "", path.wire(), done + failed))

    def of(self, kind: str) -> list[tuple[str, str, str | int | None]]:
        return [(ref, path, extra) for seen, ref, path, extra in self.events if seen == kind]

    def started(self) -> list[str]:
        return [path for _, path, _ in self.of("started")]

    def finished(self) -> dict[str, str | int | None]:
        return {path: outcome for _, path, outcome in self.of("finished")}


async def recorded(
    text: str, pipe_ref: str, inputs: dict[str, Any], *, dry_run: bool = False
) -> RecordingListener:
    library = library_of(text)
    listener = RecordingListener()
    await run_pipeline(
        library,
        RunRequest(pipe_ref, inputs),
        DryRunExecutor(library),
        RunOptions(dry_run=dry_run),
        listener,
    )
    return listener


def test_a_path_names_its_segments_on_the_wire() -> None:
    root = InvocationPath.root("filings.review_filings")
    assert root.depth == 0
    assert root.wire() == "filings.review_filings"
    item = root.step(3).item(2)
    assert item == InvocationPath(("filings.review_filings", "step_3", "item_2"))
    assert item.depth == 2
    assert item.wire() == "filings.review_filings/step_3/item_2"
    assert root.child("branch_1").segments == ("filings.review_filings", "branch_1")
    assert root.branch(2).wire() == "filings.review_filings/branch_2"
    assert root.outcome("high").wire() == "filings.review_filings/outcome_high"
    assert root.outcome("high risk/now").segments[-1] == "outcome_high%20risk%2Fnow"
    assert root.outcome(None).wire() == "filings.review_filings/default"


SEQUENCE = """
domain = "greetings"
description = "Greeting a guest"

[pipe.greet]
type = "PipeSequence"
description = "Greets then wraps"
inputs = { guest = "Text" }
output = "Text"
steps = [
  { pipe = "say_hello", result = "greeting" },
  { pipe = "wrap", result = "wrapped" },
]

[pipe.say_hello]
type = "PipeCompose"
description = "Says hello"
inputs = { guest = "Text" }
output = "Text"
template = "Hello, $guest!"

[pipe.wrap]
type = "PipeCompose"
description = "Wraps"
inputs = { greeting = "Text" }
output = "Text"
template = ">> $greeting <<"
"""


async def test_a_sequence_names_its_steps_from_one() -> None:
    listener = await recorded(SEQUENCE, "greetings.greet", {"guest": "Ada"})
    assert listener.events == [
        ("started", "greetings.greet", "greetings.greet", None),
        ("started", "greetings.say_hello", "greetings.greet/step_1", None),
        ("finished", "greetings.say_hello", "greetings.greet/step_1", "done"),
        ("started", "greetings.wrap", "greetings.greet/step_2", None),
        ("finished", "greetings.wrap", "greetings.greet/step_2", "done"),
        ("finished", "greetings.greet", "greetings.greet", "done"),
    ]


BATCHES = """
domain = "stall"
description = "Batches"

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
description = "A title, then a label per crate"
inputs = { crates = "Text[]", produce = "Text" }
output = "Text[]"
steps = [
  { pipe = "title", result = "heading" },
  { pipe = "label_one", batch_over = "crates", batch_as = "crate", result = "labels" },
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


async def test_a_batch_announces_its_total_then_names_its_items_from_one() -> None:
    listener = await recorded(BATCHES, "stall.label_all", {"crates": ["a", "b", "c"]})
    assert listener.of("batch") == [("stall.label_all", "stall.label_all", 3)]
    items = [f"stall.label_all/item_{number}" for number in (1, 2, 3)]
    assert listener.started() == ["stall.label_all", *items]
    assert {ref for ref, _, _ in listener.of("started")[1:]} == {"stall.label_one"}
    assert listener.finished() == dict.fromkeys([*items, "stall.label_all"], "done")
    batch_at = listener.events.index(("batch", "stall.label_all", "stall.label_all", 3))
    first_item_at = listener.events.index(("started", "stall.label_one", items[0], None))
    assert batch_at < first_item_at


async def test_an_inline_batch_puts_its_items_under_the_step() -> None:
    listener = await recorded(BATCHES, "stall.prepare", {"crates": ["a", "b"], "produce": "pears"})
    assert listener.of("batch") == [("stall.prepare", "stall.prepare/step_2", 2)]
    assert listener.started() == [
        "stall.prepare",
        "stall.prepare/step_1",
        "stall.prepare/step_2/item_1",
        "stall.prepare/step_2/item_2",
    ]
    assert listener.of("started")[2][0] == "stall.label_one"
    assert "stall.prepare/step_2" not in listener.finished()  # the step itself is no invocation


PARALLEL = """
domain = "stall"
description = "Branches"

[pipe.both]
type = "PipeParallel"
description = "Tag and sign at once"
inputs = { produce = "Text" }
output = "Composite"
branches = [
  { pipe = "tag", result = "tag" },
  { pipe = "sign", result = "sign" },
]

[pipe.tag]
type = "PipeCompose"
description = "Tag"
inputs = { produce = "Text" }
output = "Text"
template = "Tag: $produce"

[pipe.sign]
type = "PipeCompose"
description = "Sign"
inputs = { produce = "Text" }
output = "Text"
template = "Sign: $produce"
"""


async def test_a_parallel_names_its_branches_from_one() -> None:
    listener = await recorded(PARALLEL, "stall.both", {"produce": "pears"})
    assert listener.of("started") == [
        ("stall.both", "stall.both", None),
        ("stall.tag", "stall.both/branch_1", None),
        ("stall.sign", "stall.both/branch_2", None),
    ]
    assert listener.finished() == {
        "stall.both/branch_1": "done",
        "stall.both/branch_2": "done",
        "stall.both": "done",
    }


CONDITION = """
domain = "routing"
description = "Routing"

[pipe.route]
type = "PipeCondition"
description = "Routes"
inputs = { size = "Text" }
output = "Text"
expression = "size.text"
outcomes = { large = "say_large", huge = "say_large", small = "say_small" }
default_outcome = "say_other"

[pipe.say_large]
type = "PipeCompose"
description = "Large"
inputs = { size = "Text" }
output = "Text"
template = "large belt for $size"

[pipe.say_small]
type = "PipeCompose"
description = "Small"
inputs = { size = "Text" }
output = "Text"
template = "small belt for $size"

[pipe.say_other]
type = "PipeCompose"
description = "Other"
inputs = { size = "Text" }
output = "Text"
template = "other belt for $size"
"""


async def test_a_condition_names_the_chosen_outcome_or_the_default() -> None:
    small = await recorded(CONDITION, "routing.route", {"size": "small"})
    assert small.of("started") == [
        ("routing.route", "routing.route", None),
        ("routing.say_small", "routing.route/outcome_small", None),
    ]
    other = await recorded(CONDITION, "routing.route", {"size": "medium"})
    assert other.of("started") == [
        ("routing.route", "routing.route", None),
        ("routing.say_other", "routing.route/default", None),
    ]
    assert other.finished() == {"routing.route/default": "done", "routing.route": "done"}


async def test_outcomes_sharing_a_pipe_share_its_first_key() -> None:
    # As in the reference, a path names the outcome group, so dry and live runs agree on it.
    huge = await recorded(CONDITION, "routing.route", {"size": "huge"})
    assert huge.started() == ["routing.route", "routing.route/outcome_large"]


async def test_a_dry_condition_gives_each_outcome_pipe_its_own_path() -> None:
    listener = await recorded(CONDITION, "routing.route", {"size": "small"}, dry_run=True)
    assert listener.of("started") == [
        ("routing.route", "routing.route", None),
        ("routing.say_large", "routing.route/outcome_large", None),
        ("routing.say_small", "routing.route/outcome_small", None),
        ("routing.say_other", "routing.route/default", None),
    ]


SKIPPING = """
domain = "rounds"
description = "A skipped step"

[concept.Round]
description = "A round"

[concept.Round.structure]
driver = { type = "text", description = "Driver", required = true }
note = { type = "text", description = "Note" }

[pipe.notes]
type = "PipeSequence"
description = "Binds and writes"
inputs = { round = "Round" }
output = "Text?"
steps = [
  { from = "round.note", result = "note" },
  { pipe = "remind", result = "reminder" },
]

[pipe.remind]
type = "PipeCompose"
description = "Reminds"
inputs = { note = "Text" }
output = "Text"
template = "Note: $note"

[pipe.each_crate]
type = "PipeBatch"
description = "Labels every crate"
inputs = { crates = "Text[]" }
output = "Text[]"
branch_pipe_code = "label_one"
input_list_name = "crates"
input_item_name = "crate"

[pipe.label_one]
type = "PipeCompose"
description = "Label"
inputs = { crate = "Text" }
output = "Text"
template = "Crate $crate"

[pipe.outer]
type = "PipeSequence"
description = "Notes inside a sequence"
inputs = { round = "Round", crates = "Text[]" }
output = "Text[]"
steps = [
  { pipe = "notes", result = "noted" },
  { pipe = "each_crate", result = "labels" },
]
"""


async def test_parents_start_before_children_and_a_skipped_pipe_reports_its_path() -> None:
    listener = await recorded(SKIPPING, "rounds.outer", {"round": {"driver": "Yann"}, "crates": ["a", "b"]})
    started = listener.started()
    assert started == [
        "rounds.outer",
        "rounds.outer/step_1",
        "rounds.outer/step_2",
        "rounds.outer/step_2/item_1",
        "rounds.outer/step_2/item_2",
    ]
    for path in started[1:]:
        parent = path.rpartition("/")[0]
        assert started.index(parent) < started.index(path)
    # Binding steps count, so `remind` is step 2 of `notes`; its input is absent, so it never starts.
    assert ("finished", "rounds.remind", "rounds.outer/step_1/step_2", "skipped") in listener.events
    assert ("started", "rounds.remind", "rounds.outer/step_1/step_2", None) not in listener.events
    finished_paths = [path for _, path, _ in listener.of("finished")]
    for path in finished_paths:
        children = [other for other in finished_paths if other.startswith(f"{path}/")]
        assert all(finished_paths.index(child) < finished_paths.index(path) for child in children)
