"""Property tests: whatever text it is given, `validate_sources` returns a report of well-formed issues.

Three families of input: arbitrary text, random TOML documents shaped like bundles, and small valid
bundles mutated line by line and character by character.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from typing import Any, cast

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.language.model_deck import builtin_deck
from shared.language.report import BundleSource, ValidationReport
from shared.language.validator import validate_sources

PROBLEM_CODE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){1,2}$")
DECK = builtin_deck()

PIPE_TYPES = (
    "PipeLLM",
    "PipeCompose",
    "PipeStructure",
    "PipeJudge",
    "PipeExtract",
    "PipeImgGen",
    "PipeSearch",
    "PipeDocGen",
    "PipeFunc",
    "PipeSequence",
    "PipeParallel",
    "PipeCondition",
    "PipeBatch",
)
NATIVE_CONCEPTS = ("Text", "Image", "Document", "Page", "Number", "Html", "Composite", "Anything", "Dynamic")


def assert_well_formed(sources: Sequence[BundleSource]) -> None:
    report = validate_sources(sources, DECK)
    assert isinstance(report, ValidationReport)
    for issue in (*report.issues, *report.warnings):
        assert issue.message.strip(), issue
        assert PROBLEM_CODE.fullmatch(issue.problem_code), issue


# --- random text ---------------------------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=400))
def test_arbitrary_text_yields_a_report(text: str) -> None:
    assert_well_formed([BundleSource(path="bundle.mthds", text=text)])


# --- random TOML documents shaped like bundles: wild (any key, any value) and plausible -----------

snake_names = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)
pascal_names = st.from_regex(r"[A-Z][a-zA-Z0-9]{0,10}", fullmatch=True)
odd_names = st.text(min_size=1, max_size=12)
names = st.one_of(snake_names, odd_names)


def spec_of(code: str, suffix: str) -> str:
    return code + suffix


def template_reading(name: str, other: str) -> str:
    return f"Write about ${name} and {{{{ {other} }}}} and @{name}"


def dotted_path(root: str, leaf: str) -> str:
    return f"{root}.{leaf}"


concept_specs: st.SearchStrategy[str] = st.one_of(
    st.builds(
        spec_of,
        st.one_of(st.sampled_from(NATIVE_CONCEPTS), pascal_names),
        st.sampled_from(("", "[]", "[2]", "?", "!", "[]?")),
    ),
    odd_names,
)
scalars = st.one_of(
    st.text(max_size=30), st.integers(-(2**63), 2**63 - 1), st.booleans(), st.floats(allow_nan=False)
)
templates = st.one_of(
    st.builds(template_reading, snake_names, snake_names),
    st.text(max_size=60),
)
steps = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "pipe": names,
            "result": names,
            "from": st.builds(dotted_path, snake_names, snake_names),
            "batch_over": names,
            "batch_as": names,
        },
    ),
    max_size=4,
)
pipe_tables: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {},
    optional={
        "type": st.one_of(st.sampled_from(PIPE_TYPES), st.text(max_size=12)),
        "description": st.text(max_size=30),
        "inputs": st.dictionaries(names, concept_specs, max_size=4),
        "output": concept_specs,
        "steps": steps,
        "branches": steps,
        "prompt": templates,
        "template": templates,
        "expression": templates,
        "outcomes": st.dictionaries(names, names, max_size=3),
        "default_outcome": names,
        "branch_pipe_code": names,
        "input_list_name": names,
        "input_item_name": names,
        "model": st.one_of(st.just("@default-general"), st.text(max_size=12)),
        "junk": scalars,
    },
)
concept_values: st.SearchStrategy[str | dict[str, Any]] = st.one_of(
    st.text(max_size=30),
    st.fixed_dictionaries(
        {"description": st.text(max_size=30)},
        optional={
            "refines": concept_specs,
            "structure": st.dictionaries(
                snake_names,
                st.one_of(st.sampled_from(("text", "number", "list", "bool")), st.text(max_size=8)),
            ),
        },
    ),
)
wild_documents: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {},
    optional={
        "domain": st.one_of(snake_names, st.just("native"), odd_names),
        "description": st.text(max_size=40),
        "main_pipe": names,
        "concept": st.dictionaries(st.one_of(pascal_names, odd_names), concept_values, max_size=3),
        "pipe": st.dictionaries(names, pipe_tables, max_size=4),
        "stray": scalars,
    },
)


# Plausible documents: names drawn from small pools so that steps, templates and inputs refer to one
# another, and the library reaches the later stages (wiring, cycles, dry run) instead of stopping early.
POOL = ("alpha", "beta", "gamma", "note", "draft")
pool = st.sampled_from(POOL)
SPECIAL_OUTCOMES = ("fail", "continue")


def dollar_reading(name: str) -> str:
    return f"About ${name}."


plausible_specs = st.builds(
    spec_of,
    st.sampled_from(("Text", "Number", "Image", "Page", "Crate", "Label")),
    st.sampled_from(("", "", "[]", "?", "[2]")),
)
pipe_steps: st.SearchStrategy[dict[str, str]] = st.fixed_dictionaries(
    {"pipe": pool, "result": pool}, optional={"batch_over": pool, "batch_as": pool}
)
binding_steps: st.SearchStrategy[dict[str, str]] = st.fixed_dictionaries(
    {"from": st.builds(dotted_path, pool, st.sampled_from(("text", "code", "weight"))), "result": pool}
)
plausible_templates = st.one_of(st.builds(dollar_reading, pool), st.builds(template_reading, pool, pool))
plausible_steps = st.lists(pipe_steps, min_size=1, max_size=3)
sequence_steps = st.lists(st.one_of(pipe_steps, binding_steps), min_size=1, max_size=4)
outcome_targets = st.one_of(pool, st.sampled_from(SPECIAL_OUTCOMES))


def pipe_of(
    kind: str,
    required: dict[str, st.SearchStrategy[Any]],
    optional: dict[str, st.SearchStrategy[Any]] | None = None,
) -> st.SearchStrategy[dict[str, Any]]:
    """A pipe table of type `kind` with its required fields, some declared inputs, and maybe `optional` fields."""
    return st.fixed_dictionaries(
        {"type": st.just(kind), "description": st.just("A pipe"), "output": plausible_specs, **required},
        optional={"inputs": st.dictionaries(pool, plausible_specs, max_size=3), **(optional or {})},
    )


plausible_pipes = st.one_of(
    pipe_of(
        "PipeLLM",
        {"prompt": plausible_templates},
        {"model": st.sampled_from(("@default-general", "@default-premium", "no-such-model"))},
    ),
    pipe_of("PipeCompose", {"template": plausible_templates}),
    pipe_of("PipeStructure", {}),
    pipe_of("PipeJudge", {"prompt": plausible_templates}, {"question": st.just("Is it sound?")}),
    pipe_of("PipeExtract", {}),
    pipe_of("PipeImgGen", {"prompt": plausible_templates}),
    pipe_of("PipeSearch", {"prompt": plausible_templates}),
    pipe_of("PipeDocGen", {"format": st.just("pdf")}, {"template": plausible_templates}),
    pipe_of("PipeSequence", {"steps": sequence_steps}),
    pipe_of("PipeParallel", {"branches": plausible_steps, "add_each_output": st.booleans()}),
    pipe_of(
        "PipeCondition",
        {
            "expression": st.sampled_from(("alpha.text", "''", "'x' if beta else 'y'", "None")),
            "outcomes": st.dictionaries(st.sampled_from(("x", "y")), outcome_targets, min_size=1, max_size=2),
            "default_outcome": outcome_targets,
        },
    ),
    pipe_of("PipeBatch", {"branch_pipe_code": pool, "input_list_name": pool, "input_item_name": pool}),
)
PLAUSIBLE_CONCEPTS = {
    "Crate": "A crate",
    "Label": {
        "description": "A label",
        "structure": {"code": "The code", "weight": {"type": "number", "description": "Kilograms"}},
    },
}
plausible_documents: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {
        "domain": snake_names,
        "description": st.just("A bundle"),
        "concept": st.just(PLAUSIBLE_CONCEPTS),
        "pipe": st.dictionaries(pool, plausible_pipes, min_size=1, max_size=4),
    },
    optional={"main_pipe": pool},
)


def toml_key(key: str) -> str:
    return toml_string(key)


def toml_string(text: str) -> str:
    # A JSON string is a TOML basic string, except that TOML also wants DEL escaped.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, Mapping):
        items = cast("Mapping[str, Any]", value)
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in items.items()) + " }"
    elements = cast("Sequence[Any]", value)
    return "[" + ", ".join(toml_value(element) for element in elements) + "]"


def toml_document(document: Mapping[str, Any], table: tuple[str, ...] = ()) -> str:
    """Plain keys first, then one `[table]` section per nested mapping, the way bundles are written."""
    lines = [f"[{'.'.join(toml_key(part) for part in table)}]"] if table else []
    lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in document.items() if not isinstance(v, Mapping)]
    sections = [
        toml_document(cast("Mapping[str, Any]", v), (*table, k))
        for k, v in document.items()
        if isinstance(v, Mapping)
    ]
    return "\n".join([*lines, *sections]) + "\n"


def test_toml_writer_round_trips() -> None:
    document: dict[str, Any] = {
        "domain": "a",
        "pipe": {"p": {"type": "PipeLLM", "steps": [{"pipe": "q"}], "inputs": {}}},
    }
    assert tomllib.loads(toml_document(document)) == document


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(wild_documents, plausible_documents), min_size=1, max_size=3))
def test_random_bundle_documents_yield_a_report(documents: list[dict[str, Any]]) -> None:
    sources = [
        BundleSource(path=f"bundle_{n}.mthds", text=toml_document(doc)) for n, doc in enumerate(documents)
    ]
    assert_well_formed(sources)


# --- mutated valid bundles -----------------------------------------------------------------------

SEED_BUNDLES = (
    """\
domain      = "berth_notes"
description = "Notes telling vessels where to moor"
main_pipe   = "write_berth_note"

[pipe.write_berth_note]
type        = "PipeCompose"
description = "Write the berth note for a vessel"
inputs      = { vessel = "Text", tide = "Text" }
output      = "Text"
template    = "Berth note for $vessel on the $tide tide"
""",
    """\
domain      = "crate_labels"
description = "Write a label for every crate"
main_pipe   = "label_crates"

[concept]
Crate = "One crate in a shipment"

[concept.CrateLabel]
description = "The label to stick on a crate"
structure   = { code = "text", weight = { type = "number", description = "Kilograms", required = true } }

[pipe.label_crates]
type             = "PipeBatch"
description      = "Write a label for each crate"
inputs           = { crates = "Crate[]" }
output           = "CrateLabel[]"
branch_pipe_code = "label_one_crate"
input_list_name  = "crates"
input_item_name  = "crate"

[pipe.label_one_crate]
type        = "PipeLLM"
description = "Write the label for one crate"
inputs      = { crate = "Crate" }
output      = "CrateLabel"
prompt      = "Write the label for this crate: $crate"
""",
    """\
domain      = "ferry_notices"
description = "Sailing notices"
main_pipe   = "write_notice"

[pipe.write_notice]
type        = "PipeSequence"
description = "Draft, then route the notice"
inputs      = { crossing = "Text" }
output      = "Text"
steps       = [
  { pipe = "draft_notice", result = "draft" },
  { pipe = "route_notice", result = "notice" },
]

[pipe.draft_notice]
type        = "PipeCompose"
description = "Draft the notice"
inputs      = { crossing = "Text" }
output      = "Text"
template    = "Crossing: {{ crossing }}"

[pipe.route_notice]
type            = "PipeCondition"
description     = "Pick the notice's lane"
inputs          = { draft = "Text" }
output          = "Text"
expression      = "'urgent' if 'storm' in draft.text else 'calm'"
outcomes        = { urgent = "draft_urgent", calm = "draft_calm" }
default_outcome = "draft_calm"

[pipe.draft_urgent]
type        = "PipeCompose"
description = "Mark the notice urgent"
inputs      = { draft = "Text" }
output      = "Text"
template    = "URGENT: $draft"

[pipe.draft_calm]
type        = "PipeCompose"
description = "Keep the notice as drafted"
inputs      = { draft = "Text" }
output      = "Text"
template    = "$draft"
""",
)

mutations = st.lists(
    st.tuples(
        st.sampled_from(
            ("delete_line", "duplicate_line", "swap_lines", "insert_char", "delete_char", "replace_char")
        ),
        st.integers(min_value=0, max_value=10_000),
        st.integers(min_value=0, max_value=10_000),
        st.characters(codec="utf-8"),
    ),
    min_size=1,
    max_size=6,
)


def mutate(text: str, operations: list[tuple[str, int, int, str]]) -> str:
    """Apply each (kind, first, second, char) edit; positions wrap around the current text."""
    for kind, first, second, char in operations:
        lines = text.split("\n")
        i, j = first % len(lines), second % len(lines)
        at = first % (len(text) + 1)
        if kind == "delete_line":
            text = "\n".join(lines[:i] + lines[i + 1 :])
        elif kind == "duplicate_line":
            text = "\n".join(lines[: i + 1] + lines[i:])
        elif kind == "swap_lines":
            lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
        elif kind == "insert_char":
            text = text[:at] + char + text[at:]
        elif kind == "delete_char":
            text = text[:at] + text[at + 1 :]
        else:
            text = text[:at] + char + text[at + 1 :]
    return text


def test_mutations_edit_the_text() -> None:
    text = "a\nb\nc"
    assert mutate(text, [("delete_line", 1, 0, "x")]) == "a\nc"
    assert mutate(text, [("duplicate_line", 0, 0, "x")]) == "a\na\nb\nc"
    assert mutate(text, [("swap_lines", 0, 2, "x")]) == "c\nb\na"
    assert mutate(text, [("insert_char", 1, 0, "x")]) == "ax\nb\nc"
    assert mutate(text, [("delete_char", 0, 0, "x")]) == "\nb\nc"
    assert mutate(text, [("replace_char", 2, 0, "x")]) == "a\nx\nc"


@settings(max_examples=1000, deadline=None)
@given(st.sampled_from(SEED_BUNDLES), mutations)
def test_mutated_bundles_yield_a_report(seed: str, operations: list[tuple[str, int, int, str]]) -> None:
    assert_well_formed([BundleSource(path="bundle.mthds", text=mutate(seed, operations))])


def test_seed_bundles_validate() -> None:
    for seed in SEED_BUNDLES:
        report = validate_sources([BundleSource(path="bundle.mthds", text=seed)], DECK)
        assert report.is_valid, report.issues
