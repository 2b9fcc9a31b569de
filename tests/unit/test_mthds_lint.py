"""The .mthds linter (`shared.tooling.mthds_lint`): TOML faults, shape faults and validation issues, ranged.

Ranges follow the reference (pipelex-tools 0.7.0): 0-based UTF-8 byte offsets, 1-based lines and
character columns. Over the pipelex 0.92.2 corpus: every invalid entry gets an error on the faulty
pipe, every valid entry none.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.language.model_deck import builtin_deck
from shared.tooling.mthds_diagnostics import Diagnostic, TextRange
from shared.tooling.mthds_lint import lint_mthds
from tests.conformance.corpus import (
    CorpusEntry,
    CorpusIntegrityError,
    CorpusUnavailableError,
    Validity,
    fetch_wheel,
    load_entries,
)
from tests.conformance.test_corpus_validation import EXPECTED_PIPE

DECK = builtin_deck()
HELLO = (Path(__file__).resolve().parents[2] / "docs" / "examples" / "hello.mthds").read_text()


def lint(text: str, source: str | None = None) -> list[Diagnostic]:
    return lint_mthds(text, DECK, source=source)


def ranged_text(text: str, diagnostic: Diagnostic) -> str:
    """The text a diagnostic's range covers, once its offsets are checked against its lines and columns."""
    found = diagnostic.range
    assert found is not None
    for offset, line, column in (
        (found.start_offset, found.start_line, found.start_col),
        (found.end_offset, found.end_line, found.end_col),
    ):
        lines = text.split("\n")
        before = "\n".join([*lines[: line - 1], lines[line - 1][: column - 1] if line <= len(lines) else ""])
        assert len(before.encode()) == offset, found
    return text.encode()[found.start_offset : found.end_offset].decode()


def test_a_valid_bundle_is_clean() -> None:
    assert lint(HELLO) == []


# --- TOML faults ---------------------------------------------------------------------------------


def test_a_syntax_error_is_ranged_in_bytes_lines_and_characters() -> None:
    text = 'domain = "café"\n[pipe.a\ntype = "PipeLLM"\n'
    (diagnostic,) = lint(text)
    assert (diagnostic.kind, diagnostic.severity, diagnostic.location) == ("syntax", "error", None)
    # The error is at the end of line 2: it spans to the first column of line 3, as the reference's do.
    assert diagnostic.range == TextRange(
        start_offset=24, end_offset=25, start_line=2, start_col=8, end_line=3, end_col=1
    )
    assert ranged_text(text, diagnostic) == "\n"


def test_a_syntax_error_at_the_end_of_the_text() -> None:
    text = "a = [1,\n"
    (diagnostic,) = lint(text)
    assert diagnostic.kind == "syntax"
    assert diagnostic.range is not None
    assert (diagnostic.range.start_offset, diagnostic.range.end_offset) == (8, 8)
    assert (diagnostic.range.start_line, diagnostic.range.start_col) == (2, 1)


@pytest.mark.parametrize(
    ("text", "name", "key_line"),
    [
        ('domain = "a"\ndomain = "b"\n', "domain", 2),
        ('[pipe.a]\ntype = "x"\n[pipe.a]\nq = 1\n', "a", 3),
        ("[[t]]\n[t]\n", "t", 2),
        ("a = {b=1}\na.c = 2\n", "a", 2),
        ("a = { b = 1, b = 2 }\n", "b", 1),
    ],
)
def test_a_key_defined_twice_is_ranged_on_its_second_definition(text: str, name: str, key_line: int) -> None:
    (diagnostic,) = lint(text)
    assert diagnostic.kind == "semantic"
    assert diagnostic.message == f"conflicting keys: '{name}' and '{name}'"
    assert diagnostic.range is not None
    assert diagnostic.range.start_line == key_line
    assert ranged_text(text, diagnostic) == name
    if text.count(name) > 1 and key_line == 1:
        assert diagnostic.range.start_offset == text.rindex(name)


def test_too_deep_nesting_is_a_diagnostic() -> None:
    (diagnostic,) = lint("a = " + "[" * 5000 + "]" * 5000 + "\n")
    assert (diagnostic.kind, diagnostic.range) == ("syntax", None)
    for depth in range(200, 1200, 25):  # never a crash, whichever reader runs out of stack first
        text = '[pipe.a]\ntype = "PipeLLM"\nsteps = ' + "[" * depth + "]" * depth + "\n"
        assert lint(text)


# --- the bundle's shape --------------------------------------------------------------------------


def test_a_value_of_the_wrong_type_is_a_schema_error_on_its_key() -> None:
    text = HELLO.replace('description = "Greets the guest"', "description = 3")
    (diagnostic,) = lint(text)
    assert (diagnostic.kind, diagnostic.severity) == ("schema", "error")
    assert diagnostic.location == "pipe.greet.description"
    assert ranged_text(text, diagnostic) == "description"
    assert diagnostic.range is not None
    assert text.split("\n")[diagnostic.range.start_line - 1] == "description = 3"


def test_an_unknown_key_is_a_schema_error_on_that_key() -> None:
    text = HELLO.replace(
        'type = "PipeCompose"\ndescription = "Greets the guest"',
        'type = "PipeCompose"\nbogus = 1\ndescription = "Greets the guest"',
    )
    (diagnostic,) = lint(text)
    assert diagnostic.kind == "schema"
    assert diagnostic.location == "pipe.greet.bogus"
    assert ranged_text(text, diagnostic) == "bogus"


def test_a_fault_of_a_pipe_without_a_key_points_at_its_header() -> None:
    text = HELLO.replace('[pipe.greet]\ntype = "PipeCompose"\n', "[pipe.greet]\n")
    diagnostics = lint(text)
    assert diagnostics
    assert diagnostics[0].kind == "schema"
    assert diagnostics[0].location == "pipe.greet.type"
    assert ranged_text(text, diagnostics[0]) == "[pipe.greet]"


def test_an_unknown_top_level_key() -> None:
    text = "extra = 1\n" + HELLO
    (diagnostic,) = lint(text)
    assert (diagnostic.kind, diagnostic.location) == ("schema", "extra")
    assert ranged_text(text, diagnostic) == "extra"


# --- validation beyond the reference -------------------------------------------------------------


def test_an_unresolved_concept_is_a_semantic_error_on_the_key_naming_it() -> None:
    text = HELLO.replace(
        'output = "Welcome"\n\n[pipe.wrap.construct]', 'output = "Welcom"\n\n[pipe.wrap.construct]'
    )
    diagnostics = lint(text)
    assert diagnostics
    first = diagnostics[0]
    assert (first.kind, first.severity, first.location) == ("semantic", "error", "pipe.wrap.output")
    assert "Welcom" in first.message
    assert ranged_text(text, first) == "output"
    assert first.range is not None
    assert text.split("\n")[first.range.start_line - 1] == 'output = "Welcom"'


def test_a_step_fault_points_into_the_steps_array() -> None:
    text = HELLO.replace('{ pipe = "wrap", result = "welcome" }', '{ pipe = "wrapp", result = "welcome" }')
    (diagnostic, *_) = lint(text)
    assert diagnostic.location == "pipe.welcome.steps.1.pipe"
    assert diagnostic.range is not None
    assert text[: diagnostic.range.end_offset].endswith('{ pipe = "greet", result = "greeting" }, { pipe')


def test_validation_warnings_have_the_warning_severity() -> None:
    text = HELLO.replace('template = "Hello, {{ name }}!"', 'template = "Hello, {{ name.nickname }}!"')
    diagnostics = lint(text)
    assert diagnostics
    assert all(diagnostic.severity == "warning" for diagnostic in diagnostics), diagnostics
    assert diagnostics[0].location == "pipe.greet.template"
    assert ranged_text(text, diagnostics[0]) == "template"


def test_the_source_name_is_accepted_and_not_echoed() -> None:
    text = HELLO.replace('main_pipe = "welcome"', "main_pipe = 3")
    diagnostics = lint(text, source="methods/hello.mthds")
    assert [diagnostic.location for diagnostic in diagnostics] == ["main_pipe"]
    assert "methods/hello.mthds" not in diagnostics[0].message


# --- any text ------------------------------------------------------------------------------------


def _assert_consistent(text: str, diagnostics: list[Diagnostic]) -> None:
    for diagnostic in diagnostics:
        assert diagnostic.message
        if diagnostic.range is not None:
            ranged_text(text, diagnostic)
            assert 0 <= diagnostic.range.start_offset <= diagnostic.range.end_offset <= len(text.encode())


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_any_text_gets_diagnostics_whose_ranges_hold(text: str) -> None:
    _assert_consistent(text, lint(text))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(HELLO.split("\n")), max_size=40), st.sampled_from(["\n", "\r\n"]))
def test_shuffled_lines_of_a_bundle_get_diagnostics_whose_ranges_hold(lines: list[str], newline: str) -> None:
    """Lines dropped, repeated and moved: duplicate keys, shape faults, unresolved references."""
    text = newline.join(lines)
    _assert_consistent(text, lint(text))


# --- the pipelex 0.92.2 corpus -------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus() -> list[CorpusEntry]:
    try:
        return load_entries(fetch_wheel())
    except CorpusUnavailableError as exc:
        pytest.skip(str(exc))
    except CorpusIntegrityError as exc:
        pytest.fail(str(exc))


def _section(text: str, pipe: str) -> tuple[int, int]:
    """Byte offsets [start, end) of `[pipe.<pipe>]` up to the next table header."""
    data = text.encode()
    header = re.search(rb"^\[pipe\." + re.escape(pipe.encode()) + rb"\]", data, re.MULTILINE)
    assert header is not None, pipe
    following = re.compile(rb"^\[", re.MULTILINE).search(data, header.end())
    return header.start(), following.start() if following else len(data)


def _lint_entry(entry: CorpusEntry) -> list[Diagnostic]:
    main, *others = entry.bundles
    return lint_mthds(main.text, DECK, source=main.path, companions=others)


@pytest.mark.conformance
def test_every_invalid_corpus_entry_gets_an_error_on_its_faulty_pipe(corpus: list[CorpusEntry]) -> None:
    invalid = [entry for entry in corpus if entry.manifest.validity is Validity.INVALID]
    assert len(invalid) == len(EXPECTED_PIPE)
    for entry in invalid:
        errors = [diagnostic for diagnostic in _lint_entry(entry) if diagnostic.severity == "error"]
        assert errors, entry.name
        first = errors[0]
        assert first.location is not None, entry.name
        assert first.range is not None, entry.name
        pipe = EXPECTED_PIPE[entry.name]
        if pipe is None:
            continue
        assert first.location.startswith(f"pipe.{pipe}"), (entry.name, first)
        start, end = _section(entry.bundles[0].text, pipe)
        assert start <= first.range.start_offset < end, (entry.name, first)


@pytest.mark.conformance
def test_no_valid_corpus_entry_gets_an_error(corpus: list[CorpusEntry]) -> None:
    valid = [entry for entry in corpus if entry.manifest.validity is Validity.VALID]
    assert len(valid) > 50
    for entry in valid:
        errors = [diagnostic for diagnostic in _lint_entry(entry) if diagnostic.severity == "error"]
        assert errors == [], entry.name
