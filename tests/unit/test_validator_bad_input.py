"""Hostile inputs: `validate_sources` answers with issues, never a crash, a hang or a RecursionError."""

from __future__ import annotations

import tomllib

import pytest

from shared.language.issues import SYNTAX_CODE
from shared.language.model_deck import builtin_deck
from shared.language.report import BundleSource, ValidationReport
from shared.language.validator import validate_sources

DECK = builtin_deck()
DEPTH = 100_000
PIPE_COUNT = 10_000


def validate_one(text: str) -> ValidationReport:
    return validate_sources([BundleSource(path="bundle.mthds", text=text)], DECK)


def test_invalid_toml_is_a_syntax_issue_with_its_position() -> None:
    report = validate_one('domain = "berth_notes"\ndescription = "Notes"\nthis line is not toml\n')
    assert not report.is_valid
    first = report.issues[0]
    assert first.problem_code == SYNTAX_CODE
    assert first.error_type is None
    assert first.file == "bundle.mthds"
    assert first.line == 3
    assert first.column is not None


def test_binary_garbage_is_a_syntax_issue() -> None:
    garbage = bytes(range(256)).decode("latin-1") * 4
    report = validate_one(garbage)
    assert not report.is_valid
    assert report.issues[0].problem_code == SYNTAX_CODE


@pytest.mark.parametrize(
    "text",
    [
        "a = " + "[" * DEPTH + "]" * DEPTH,
        "a = " + "{ b = " * DEPTH + "1" + " }" * DEPTH,
    ],
    ids=["nested-arrays", "nested-inline-tables"],
)
def test_absurd_nesting_is_a_syntax_issue(text: str) -> None:
    report = validate_one(text)
    assert not report.is_valid
    assert report.issues[0].problem_code == SYNTAX_CODE


def long_chain_bundle(length: int) -> str:
    """A sequence of `length` PipeCompose steps, each reading what the previous one stored."""
    steps = ",\n".join(f'  {{ pipe = "step_{n}", result = "note_{n + 1}" }}' for n in range(length))
    parts = [
        'domain = "long_chains"\ndescription = "A very long chain"\nmain_pipe = "run_chain"\n',
        "[pipe.run_chain]",
        'type = "PipeSequence"\ndescription = "Runs every step in turn"\ninputs = { note_0 = "Text" }\noutput = "Text"',
        f"steps = [\n{steps},\n]\n",
    ]
    parts += [
        f'[pipe.step_{n}]\ntype = "PipeCompose"\ndescription = "Step {n}"\n'
        f'inputs = {{ note_{n} = "Text" }}\noutput = "Text"\ntemplate = "{n}: $note_{n}"\n'
        for n in range(length)
    ]
    return "\n".join(parts)


def test_ten_thousand_pipe_bundle_validates() -> None:
    report = validate_one(long_chain_bundle(PIPE_COUNT))
    assert report.is_valid, report.issues[:3]


def test_long_chain_builder_is_valid_toml() -> None:
    data = tomllib.loads(long_chain_bundle(3))
    assert list(data["pipe"]) == ["run_chain", "step_0", "step_1", "step_2"]
    assert data["pipe"]["run_chain"]["steps"][2] == {"pipe": "step_2", "result": "note_3"}


SELF_CYCLE = """\
domain      = "loops"
description = "A sequence that runs itself"
main_pipe   = "spin"

[pipe.spin]
type        = "PipeSequence"
description = "Runs itself"
inputs      = { note = "Text" }
output      = "Text"
steps       = [{ pipe = "spin", result = "note" }]
"""

TWO_PIPE_CYCLE = """\
domain      = "loops"
description = "Two sequences that run each other"
main_pipe   = "ping"

[pipe.ping]
type        = "PipeSequence"
description = "Runs pong"
inputs      = { note = "Text" }
output      = "Text"
steps       = [{ pipe = "pong", result = "note" }]

[pipe.pong]
type        = "PipeSequence"
description = "Runs ping"
inputs      = { note = "Text" }
output      = "Text"
steps       = [{ pipe = "ping", result = "note" }]
"""


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("text", "pipes"),
    [(SELF_CYCLE, {"spin"}), (TWO_PIPE_CYCLE, {"ping", "pong"})],
    ids=["self", "two-pipes"],
)
def test_sequence_cycle_is_a_located_issue(text: str, pipes: set[str]) -> None:
    report = validate_one(text)
    assert not report.is_valid
    assert any(issue.pipe in pipes and issue.message.strip() for issue in report.issues), report.issues
