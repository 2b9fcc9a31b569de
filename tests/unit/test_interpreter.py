"""Run semantics of the controllers and PipeCompose (mthds.md §2.3, §2.11-2.14, §4)."""

from __future__ import annotations

import asyncio

import pytest

from shared.runtime.operator_call import OperatorCall, Produced
from shared.runtime.stuff import Absence, Stuff
from tests.helpers.methods import run_text

GREETINGS = """
domain = "greetings"
description = "Greeting a guest"
main_pipe = "greet"

[concept.Guest]
description = "A guest"

[concept.Guest.structure]
name = { type = "text", description = "Name", required = true }
nights = { type = "integer", description = "Nights booked", required = true }
note = { type = "text", description = "A note, when there is one" }

[pipe.greet]
type = "PipeSequence"
description = "Greets then wraps"
inputs = { guest = "Guest" }
output = "Text"
steps = [
  { pipe = "say_hello", result = "greeting" },
  { pipe = "wrap", result = "wrapped" },
]

[pipe.say_hello]
type = "PipeCompose"
description = "Says hello"
inputs = { guest = "Guest" }
output = "Text"
template = "Hello, {{ guest.name }}! {{ guest.nights }} nights."

[pipe.wrap]
type = "PipeCompose"
description = "Wraps"
inputs = { greeting = "Text" }
output = "Text"
template = ">> $greeting <<"
"""


async def test_a_sequence_passes_results_by_name_and_ends_on_its_last_step() -> None:
    outcome = await run_text(GREETINGS, "greetings.greet", {"guest": {"name": "Ada", "nights": 2}})
    assert outcome.main_json() == {"text": ">> Hello, Ada! 2 nights. <<"}
    assert outcome.main_stuff_name == "wrapped"
    root = outcome.memory.wire()["root"]
    assert set(root) == {"guest", "greeting", "wrapped"}
    assert root["guest"]["concept"] == "greetings.Guest"
    assert root["guest"]["content"] == {"name": "Ada", "nights": 2, "note": None}
    assert all(len(stuff["stuff_code"]) == 5 for stuff in root.values())


async def test_pipe_output_has_the_reference_shape() -> None:
    outcome = await run_text(GREETINGS, "greetings.greet", {"guest": {"name": "Ada", "nights": 2}})
    output = outcome.pipe_output("run-1")
    assert output["pipeline_run_id"] == "run-1"
    assert output["working_memory"]["aliases"] == {"main_stuff": "wrapped"}
    assert output["tokens_usages"] == []
    assert output["working_memory"]["root"]["wrapped"]["content"] == {"text": ">> Hello, Ada! 2 nights. <<"}


async def test_output_name_renames_the_main_result_and_an_operator_defaults_to_its_concept() -> None:
    named = await run_text(
        GREETINGS, "greetings.say_hello", {"guest": {"name": "Bo", "nights": 1}}, output_name="hi"
    )
    assert named.main_stuff_name == "hi"
    unnamed = await run_text(GREETINGS, "greetings.say_hello", {"guest": {"name": "Bo", "nights": 1}})
    assert unnamed.main_stuff_name == "main_stuff"
    assert isinstance(unnamed.main, Stuff)
    assert unnamed.main.name == "text"


async def test_same_seed_gives_the_same_stuff_codes() -> None:
    first = await run_text(GREETINGS, "greetings.greet", {"guest": {"name": "Ada", "nights": 2}})
    second = await run_text(GREETINGS, "greetings.greet", {"guest": {"name": "Ada", "nights": 2}})
    assert first.memory.wire() == second.memory.wire()


BINDINGS = """
domain = "rounds"
description = "Binding fields"
main_pipe = "notes"

[concept.Stop]
description = "A stop"

[concept.Stop.structure]
town = { type = "text", description = "Town", required = true }
parcels = { type = "list", item_type = "text", description = "Parcel ids", required = true }
weight = { type = "number", description = "Weight", required = true }

[concept.Round]
description = "A round"

[concept.Round.structure]
driver = { type = "text", description = "Driver", required = true }
note = { type = "text", description = "Note" }
stops = { type = "list", item_type = "concept", item_concept_ref = "Stop", description = "Stops", required = true }

[pipe.notes]
type = "PipeSequence"
description = "Binds and writes"
inputs = { round = "Round" }
output = "Text?"
steps = [
  { from = "round.stops.parcels", result = "parcels" },
  { from = "round.stops.weight", result = "weights" },
  { pipe = "list_parcels", result = "listing" },
  { from = "round.note", result = "note" },
  { pipe = "remind", result = "reminder" },
]

[pipe.list_parcels]
type = "PipeCompose"
description = "Lists"
inputs = { parcels = "Text[]", weights = "Number[]" }
output = "Text"
template = "{% for p in parcels %}{{ p.text }} {% endfor %}|{% for w in weights %}{{ w.number }} {% endfor %}"

[pipe.remind]
type = "PipeCompose"
description = "Reminds"
inputs = { note = "Text" }
output = "Text"
template = "Note: $note"
"""


async def test_bindings_cross_lists_flatten_and_an_absent_field_skips_its_reader() -> None:
    round_ = {
        "driver": "Yann",
        "stops": [
            {"town": "Brest", "parcels": ["A1", "A2"], "weight": 2},
            {"town": "Morlaix", "parcels": ["B1"], "weight": 3.5},
        ],
    }
    outcome = await run_text(BINDINGS, "rounds.notes", {"round": round_})
    root = outcome.memory.wire()["root"]
    assert root["listing"]["content"] == {"text": "A1 A2 B1 |2.0 3.5 "}
    assert root["parcels"]["concept"] == "native.Text"
    assert isinstance(outcome.main, Absence)
    assert outcome.main_json()["kind"] == "skipped"
    assert outcome.main_json()["upstream"]["kind"] == "declared_absent"

    with_note = await run_text(BINDINGS, "rounds.notes", {"round": {**round_, "note": "Gate 4471"}})
    assert with_note.main_json() == {"text": "Note: Gate 4471"}


BATCH_AND_PARALLEL = """
domain = "stall"
description = "Batches and branches"
main_pipe = "prepare"

[concept.Tag]
description = "A price tag"

[concept.Tag.structure]
produce = { type = "text", description = "Produce", required = true }
price = { type = "number", description = "Price", required = true }

[pipe.prepare]
type = "PipeParallel"
description = "Tag and sign at once"
inputs = { produce = "Text", crates = "Text[]" }
output = "Composite"
add_each_output = true
branches = [
  { pipe = "write_tag", result = "tag" },
  { pipe = "label_all", result = "labels" },
]

[pipe.write_tag]
type = "PipeCompose"
description = "Tag"
inputs = { produce = "Text" }
output = "Tag"

[pipe.write_tag.construct]
produce = { from = "produce" }
price = 3

[pipe.label_all]
type = "PipeBatch"
description = "One label per crate"
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
"""


async def test_parallel_combines_branches_and_batch_keeps_item_order() -> None:
    crates = [f"c{index}" for index in range(30)]
    outcome = await run_text(BATCH_AND_PARALLEL, "stall.prepare", {"produce": "pears", "crates": crates})
    combined = outcome.main_json()
    assert combined["tag"] == {"produce": "pears", "price": 3.0}
    assert combined["labels"] == {"items": [{"text": f"Crate c{index}"} for index in range(30)]}
    root = outcome.memory.wire()["root"]
    assert root["tag"]["concept"] == "stall.Tag"
    assert root["labels"]["concept"] == "native.Text"


CONDITION = """
domain = "routing"
description = "Routing"
main_pipe = "route"

[pipe.route]
type = "PipeCondition"
description = "Routes"
inputs = { size = "Text" }
output = "Text?"
expression = "size.text"
outcomes = { large = "say_large", small = "continue", broken = "fail" }
default_outcome = "say_other"
add_alias_from_expression_to = "size"

[pipe.say_large]
type = "PipeCompose"
description = "Large"
inputs = { size = "Text" }
output = "Text"
template = "large belt for $size"

[pipe.say_other]
type = "PipeCompose"
description = "Other"
inputs = { size = "Text" }
output = "Text"
template = "other belt for $size"
"""


@pytest.mark.parametrize(
    ("size", "expected"),
    [("large", {"text": "large belt for large"}), ("medium", {"text": "other belt for medium"})],
)
async def test_condition_runs_the_outcome_pipe_or_the_default(size: str, expected: dict[str, str]) -> None:
    outcome = await run_text(CONDITION, "routing.route", {"size": size})
    assert outcome.main_json() == expected
    assert outcome.memory.aliases[size] == "size"


async def test_condition_continue_records_an_absence() -> None:
    outcome = await run_text(CONDITION, "routing.route", {"size": "small"})
    assert outcome.main_json()["absent"] is True
    assert outcome.main_json()["kind"] == "declared_absent"


async def test_output_multiplicity_and_dynamic_concept_reach_the_operator() -> None:
    text = """
domain = "dyn"
description = "Dynamic outputs"

[pipe.write]
type = "PipeLLM"
description = "Writes"
inputs = { topic = "Text" }
output = "Dynamic"
prompt = "Write about $topic"
"""
    listed = await run_text(text, "dyn.write", {"topic": "tides"}, output_multiplicity=3)
    assert isinstance(listed.main, Stuff)
    assert listed.main.is_list
    assert len(listed.main.items()) == 3
    numbered = await run_text(text, "dyn.write", {"topic": "tides"}, dynamic_output_concept_ref="Number")
    assert isinstance(numbered.main, Stuff)
    assert numbered.main.concept == "native.Number"
    assert isinstance(numbered.main_json()["number"], int | float)


class CountingExecutor:
    """Answers each operator after a short wait, recording how many calls were in flight at once."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.most_in_flight = 0
        self.order: list[str] = []

    async def run_operator(self, call: OperatorCall) -> Produced:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        item = call.inputs["crate"].content["text"] if "crate" in call.inputs else call.pipe.code
        await asyncio.sleep(0.001 * (sum(map(ord, item)) % 5))  # finish out of order
        self.order.append(item)
        self.in_flight -= 1
        return Produced({"text": f"checked {item}"})


CONCURRENT = """
domain = "yard"
description = "Concurrent work"

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

[pipe.both]
type = "PipeParallel"
description = "Two checks at once"
inputs = { crate = "Text" }
output = "Composite"
branches = [ { pipe = "check_one", result = "first" }, { pipe = "check_again", result = "second" } ]

[pipe.check_again]
type = "PipeLLM"
description = "Checks again"
inputs = { crate = "Text" }
output = "Text"
prompt = "Check $crate again"
"""


async def test_batch_items_run_concurrently_at_most_eight_at_once_and_keep_their_order() -> None:
    executor = CountingExecutor()
    crates = [f"c{index}" for index in range(40)]
    outcome = await run_text(CONCURRENT, "yard.check_all", {"crates": crates}, executor=executor)
    assert executor.most_in_flight == 8
    assert executor.order != crates  # they finished out of order...
    assert outcome.main_json() == {
        "items": [{"text": f"checked c{index}"} for index in range(40)]
    }  # ...kept in order


async def test_parallel_branches_run_at_the_same_time() -> None:
    executor = CountingExecutor()
    outcome = await run_text(CONCURRENT, "yard.both", {"crate": "c1"}, executor=executor)
    assert executor.most_in_flight == 2
    assert outcome.main_json() == {"first": {"text": "checked c1"}, "second": {"text": "checked c1"}}
