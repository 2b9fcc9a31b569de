"""The probe bundles of the static absence analysis's former gaps (mthds.md §2.11 to §2.14, §4.4), shared
by the property tests (`test_interpreter_properties.py`) and the verdict on each gap
(`test_absence_gaps.py`), with the runs both make of them.

Each probe is `probe.main`, a PipeSequence whose first step binds the optional field `card.note` to
`note`; a later pipe reads `note` plainly, so a caller who leaves the note out makes the run skip it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from shared.runtime.call_site import RunOptions
from shared.runtime.dry_run_executor import DryRunExecutor
from shared.runtime.run_pipeline import RunOutcome, RunRequest, run_pipeline
from tests.helpers.methods import library_of

CARD = """
domain = "probe"
description = "Known gaps of the static absence analysis"

[concept.Card]
description = "A card"

[concept.Card.structure]
note = { type = "text", description = "An optional note" }
"""

NOTE_STEP = '{ from = "card.note", result = "note" }'

# The pipes more than one probe holds.
IDEAS = """[pipe.ideas]
type = "PipeLLM"
description = "Ideas"
inputs = { note = "Text" }
output = "Text[]"
prompt = "Ideas about $note"
"""

QUOTE = """[pipe.quote]
type = "PipeCompose"
description = "Quote"
inputs = { note = "Text" }
output = "Text"
template = "> $note"
"""


def probe(
    description: str,
    output: str,
    steps: list[str],
    pipes: list[str],
    *,
    inputs: str = 'card = "Card"',
    concepts: str = "",
) -> str:
    """A probe bundle: `CARD` and `concepts`, then `probe.main` (`NOTE_STEP`, then `steps`), then `pipes`."""
    step_lines = "".join(f"  {step},\n" for step in [NOTE_STEP, *steps])
    main = f"""
[pipe.main]
type = "PipeSequence"
description = "{description}"
inputs = {{ {inputs} }}
output = "{output}"
steps = [
{step_lines}]
"""
    return CARD + concepts + main + "".join(f"\n{pipe}" for pipe in pipes)


BATCH_OVER_SKIPPED_LIST = probe(
    "Batches over a list whose producer may be skipped",
    "Text[]",
    [
        '{ pipe = "ideas", result = "ideas" }',
        '{ pipe = "each", batch_over = "ideas", batch_as = "idea", result = "out" }',
    ],
    [
        IDEAS,
        """[pipe.each]
type = "PipeCompose"
description = "One idea"
inputs = { idea = "Text" }
output = "Text"
template = "- $idea"
""",
    ],
)

BINDING_ACROSS_SKIPPED_LIST = probe(
    "Binds across a list whose producer may be skipped",
    "Text[]",
    ['{ pipe = "cards", result = "cards" }', '{ from = "cards.note", result = "notes" }'],
    [
        """[pipe.cards]
type = "PipeLLM"
description = "Cards"
inputs = { note = "Text" }
output = "Card[]"
prompt = "Cards about $note"
"""
    ],
)


def parallel_then_read(parallel_input: str) -> str:
    """A parallel with add_each_output over the note (read as `parallel_input`), then a read of its
    branch result `quoted`."""
    return probe(
        "Reads a branch result of a parallel with add_each_output",
        "Text",
        ['{ pipe = "both", result = "pair" }', '{ pipe = "wrap", result = "out" }'],
        [
            f"""[pipe.both]
type = "PipeParallel"
description = "Both"
inputs = {{ note = "{parallel_input}" }}
output = "Composite"
add_each_output = true
branches = [
  {{ pipe = "quote", result = "quoted" }},
  {{ pipe = "fixed", result = "fixed" }},
]
""",
            QUOTE,
            """[pipe.fixed]
type = "PipeCompose"
description = "Fixed"
output = "Text"
template = "fixed"
""",
            """[pipe.wrap]
type = "PipeCompose"
description = "Wrap"
inputs = { quoted = "Text" }
output = "Text"
template = "[$quoted]"
""",
        ],
    )


CONDITION_OUTCOME_SKIPPED = probe(
    "Routes on a word; the outcome pipes read an optional note plainly",
    "Text",
    ['{ pipe = "route", result = "out" }'],
    [
        """[pipe.route]
type = "PipeCondition"
description = "Route"
inputs = { mode = "Text", note = "Text?" }
output = "Text"
expression = "mode.text == 'loud'"
outcomes = { "True" = "shout" }
default_outcome = "whisper"
""",
        """[pipe.shout]
type = "PipeCompose"
description = "Shout"
inputs = { note = "Text" }
output = "Text"
template = "$note!"
""",
        """[pipe.whisper]
type = "PipeCompose"
description = "Whisper"
inputs = { note = "Text" }
output = "Text"
template = "($note)"
""",
    ],
    inputs='card = "Card", mode = "Text"',
)


def probe_outcomes(text: str, inputs: dict[str, Any]) -> list[RunOutcome]:
    """A dry run and a real run (operators other than PipeCompose mocked) of `probe.main`."""
    library = library_of(text)
    return [
        asyncio.run(
            run_pipeline(
                library, RunRequest("probe.main", inputs), DryRunExecutor(library), RunOptions(dry_run=dry)
            )
        )
        for dry in (True, False)
    ]
