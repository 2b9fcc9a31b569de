"""The .mthds formatter (`shared.tooling.mthds_format`): the reference's layout, kept comments and strings.

Examples come from the reference formatter's observed output (docs/design/tooling-routes.md §5); the
properties hold on every bundle of the pipelex 0.92.2 corpus and on generated TOML documents: the
result parses to the same data, keeps every comment and multi-line string, and is a fixed point.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.tooling.mthds_format import format_mthds
from tests.conformance.corpus import (
    CorpusEntry,
    CorpusIntegrityError,
    CorpusUnavailableError,
    fetch_wheel,
    load_entries,
)


def formatted(text: str, **options: int) -> str:
    outcome = format_mthds(text, **options)
    assert outcome.diagnostics == ()
    assert outcome.changed == (outcome.formatted != text)
    return outcome.formatted


def assert_formatted_well(text: str, **options: int) -> str:
    """Format `text` and check the three promises: same data, a fixed point, nothing changed twice."""
    result = formatted(text, **options)
    assert repr(tomllib.loads(result)) == repr(tomllib.loads(text))
    again = format_mthds(result, **options)
    assert again.formatted == result
    assert again.changed is False
    return result


# --- the reference's layout, sample by sample ----------------------------------------------------


def test_the_sample_of_the_reference() -> None:
    text = '# top comment\ndomain="x"   # trailing\ndescription = "d"\n'
    assert formatted(text) == '# top comment\ndomain      = "x" # trailing\ndescription = "d"\n'


def test_consecutive_keys_align_and_a_lone_key_does_not() -> None:
    text = '[concept.Welcome.structure]\nguest = {type="text"}\nmessage = { type = "text" }\n\n[pipe.a]\ntype = "PipeLLM"\n'
    assert formatted(text) == (
        '[concept.Welcome.structure]\nguest   = { type = "text" }\nmessage = { type = "text" }\n\n'
        '[pipe.a]\ntype = "PipeLLM"\n'
    )


def test_blank_and_comment_lines_end_an_alignment_group() -> None:
    text = "a = 1\nbbb = 2\n\ncc = 3\ndddd = 4\n# note\neeeee = 5\n"
    assert formatted(text) == "a   = 1\nbbb = 2\n\ncc   = 3\ndddd = 4\n# note\neeeee = 5\n"


def test_a_group_with_a_value_over_several_lines_is_not_aligned() -> None:
    text = 'type        = "PipeLLM"\ndescription = "d"\nprompt      = """\nSay hi.\n"""\n'
    assert formatted(text) == 'type = "PipeLLM"\ndescription = "d"\nprompt = """\nSay hi.\n"""\n'
    # A triple-quoted string on one line does not break the alignment.
    assert formatted('a = """x"""\nbbb = 2\n') == 'a   = """x"""\nbbb = 2\n'


def test_trailing_comments_align_within_a_group() -> None:
    text = "a = 1 # c\nbbbb = 2222222\ncc = 3     # d\n"
    assert formatted(text) == "a    = 1       # c\nbbbb = 2222222\ncc   = 3       # d\n"


def test_comments_everywhere_are_kept() -> None:
    text = (
        "# leading\n\n[pipe.a]   # on the header\n  # indented own line\ntype = 'PipeLLM' # after a value\n"
        "steps = [ # after the bracket\n  { pipe = 'p' }, # after an item\n  # inside the array\n  2\n]\n"
    )
    assert assert_formatted_well(text) == (
        "# leading\n\n[pipe.a] # on the header\n# indented own line\ntype = 'PipeLLM' # after a value\n"
        "steps = [ # after the bracket\n  { pipe = 'p' }, # after an item\n  # inside the array\n  2,\n]\n"
    )


def test_spacing_is_normalised() -> None:
    text = '[ pipe . "a b" ]\nx.y= {a="Text",b = [1,2,],c={}}\nz =[ ]\n'
    assert formatted(text) == '[pipe."a b"]\nx.y = { a = "Text", b = [1, 2], c = {} }\nz   = []\n'


def test_multi_line_strings_are_kept_byte_for_byte() -> None:
    prompt = (
        '"""\n  Indented,   spaced   \n# not a comment\n\n\n\n\nkey=value\\\n   continued ""quoted"" """"'
    )
    literal = "'''\r\nraw \\n  \t'''"
    text = f"prompt={prompt}\nother =   {literal}\r\n"
    result = assert_formatted_well(text)
    assert result == f"prompt = {prompt}\nother = {literal}\n"


def test_long_single_line_arrays_are_expanded_at_the_column_width() -> None:
    fits = 'a = ["' + "x" * 72 + '"]\n'  # 80 characters
    assert formatted(fits) == fits
    too_long = 'a = ["' + "x" * 73 + '"]\n'
    assert formatted(too_long) == 'a = [\n  "' + "x" * 73 + '",\n]\n'
    assert formatted("a = [1, 2, 3]\n", column_width=10) == "a = [\n  1,\n  2,\n  3,\n]\n"


def test_a_long_line_expands_every_array_of_its_value() -> None:
    text = 'priority = { choices = ["routine", "urgent"], description = "How soon the invoice must be paid", required = true }\n'
    assert formatted(text) == (
        'priority = { choices = [\n  "routine",\n  "urgent",\n], '
        'description = "How soon the invoice must be paid", required = true }\n'
    )


def test_arrays_broken_over_lines_stay_broken_and_get_trailing_commas() -> None:
    assert formatted("a = [\n 1, 2,\n 3]\n") == "a = [\n  1,\n  2,\n  3,\n]\n"
    assert formatted("a = [[\n1], [2]]\n") == "a = [\n  [\n    1,\n  ],\n  [2],\n]\n"
    assert formatted("a = [\n  1, # one\n  222, # two\n]\n") == "a = [\n  1,   # one\n  222, # two\n]\n"


def test_runs_of_empty_lines_are_capped_at_two() -> None:
    text = "a = 1\n\n\n\n\n[t]\nb = [\n  1,\n\n\n\n  2,\n]\n\n\n"
    assert formatted(text) == "a = 1\n\n\n[t]\nb = [\n  1,\n\n\n  2,\n]\n"
    # At the start of the text the reference keeps three.
    assert formatted("\n\n\n\n\na = 1\n") == "\n\n\na = 1\n"


def test_comments_keep_their_trailing_blanks_but_at_the_end_of_the_text() -> None:
    text = "a = 1 # c  \nbbb = [1] # d \u00a0\n"
    assert formatted(text) == "a   = 1   # c  \nbbb = [1] # d\n"


def test_line_ends_and_the_final_newline() -> None:
    assert formatted("a = 1\r\nb = 2") == "a = 1\nb = 2\n"
    assert formatted("") == "\n"
    assert formatted("# only") == "# only\n"


def test_dates_and_special_numbers_keep_their_spelling() -> None:
    text = "d = 1979-05-27 07:32:00Z\nt = 07:32:00\nf = -inf\nn = nan\ni = 1_000\nh = 0xDEAD\n"
    assert assert_formatted_well(text) == (
        "d = 1979-05-27 07:32:00Z\nt = 07:32:00\nf = -inf\nn = nan\ni = 1_000\nh = 0xDEAD\n"
    )


@pytest.mark.parametrize(
    ("text", "kind", "line"),
    [
        ('domain = "x"\n[pipe.a\ntype = "PipeLLM"\n', "syntax", 2),
        ("a = [1,\nb = 2\n", "syntax", 2),
        ('domain = "a"\ndomain = "b"\n', "semantic", 2),
        ('[pipe.a]\ntype = "x"\n[pipe.a]\n', "semantic", 3),
    ],
)
def test_text_that_is_not_toml_comes_back_unchanged_with_why(text: str, kind: str, line: int) -> None:
    outcome = format_mthds(text)
    assert outcome.formatted == text
    assert outcome.changed is False
    assert [diagnostic.kind for diagnostic in outcome.diagnostics] == [kind]
    diagnostic_range = outcome.diagnostics[0].range
    assert diagnostic_range is not None
    assert diagnostic_range.start_line == line


def test_too_deep_nesting_is_a_diagnostic_not_a_crash() -> None:
    text = "a = " + "[" * 5000 + "]" * 5000 + "\n"
    outcome = format_mthds(text)
    assert (outcome.formatted, outcome.changed) == (text, False)
    assert [diagnostic.kind for diagnostic in outcome.diagnostics] == ["syntax"]


@pytest.mark.parametrize("opening", ["[", "{ b = ["])
def test_every_depth_is_formatted_or_refused(opening: str) -> None:
    """Around the depth where `tomllib` stops, the layout may still run out of stack first: never a crash."""
    closing = "]" if opening == "[" else "] }"
    for depth in range(200, 1200, 25):
        text = "a = " + opening * depth + closing * depth + "\n"
        outcome = format_mthds(text)
        if outcome.diagnostics:
            assert (outcome.formatted, outcome.changed) == (text, False)
            assert outcome.diagnostics[0].range is None
        else:
            assert repr(tomllib.loads(outcome.formatted)) == repr(tomllib.loads(text))


# --- the pipelex 0.92.2 corpus -------------------------------------------------------------------

# The three corpus bundles the reference formatter changes (pipelex-tools 0.7.0): each lost alignment
# padding. Every other bundle of the corpus is already in the reference's layout, so ours leaves it alone.
REFERENCE_CHANGES = {
    "invalid_input_name_batch_item_name_not_plain": [
        ('input_item_name  = "Cheese"', 'input_item_name = "Cheese"')
    ],
    "invalid_input_name_lone_dotted": [
        ('type        = "PipeLLM"', 'type = "PipeLLM"'),
        ("inputs      = {", "inputs = {"),
        ('output      = "Text"', 'output = "Text"'),
        ('prompt      = """', 'prompt = """'),
    ],
    "invalid_input_name_redundant_dotted": [
        ('type        = "PipeLLM"', 'type = "PipeLLM"'),
        ("inputs      = {", "inputs = {"),
        ('output      = "Text"', 'output = "Text"'),
        ('prompt      = """', 'prompt = """'),
    ],
}


@pytest.fixture(scope="module")
def corpus() -> list[CorpusEntry]:
    try:
        return load_entries(fetch_wheel())
    except CorpusUnavailableError as exc:
        pytest.skip(str(exc))
    except CorpusIntegrityError as exc:
        pytest.fail(str(exc))


@pytest.mark.conformance
def test_the_corpus_formats_as_the_reference_formats_it(corpus: list[CorpusEntry]) -> None:
    for entry in corpus:
        for bundle in entry.bundles:
            expected = bundle.text
            for before, after in (
                REFERENCE_CHANGES.get(entry.name, []) if bundle.path == "bundle.mthds" else []
            ):
                assert before in expected
                expected = expected.replace(before, after)
            assert format_mthds(bundle.text).formatted == expected, f"{entry.name}/{bundle.path}"


@pytest.mark.conformance
def test_formatting_the_corpus_keeps_data_and_comments_and_is_a_fixed_point(
    corpus: list[CorpusEntry],
) -> None:
    bundles = [bundle for entry in corpus for bundle in entry.bundles]
    assert len(bundles) > 100
    for bundle in bundles:
        result = assert_formatted_well(bundle.text)
        comments = [line.strip() for line in bundle.text.splitlines() if line.strip().startswith("#")]
        assert all(comment in result for comment in comments), bundle.path


_KEY_LINE = re.compile(r"^([A-Za-z0-9_.\"-]+) *= ")


@pytest.mark.conformance
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_the_corpus_with_its_layout_undone_formats_back(
    corpus: list[CorpusEntry], data: st.DataObject
) -> None:
    """Alignment padding and spacing around `=` changed at random: the formatter puts the layout back."""
    bundle = data.draw(st.sampled_from([bundle for entry in corpus for bundle in entry.bundles]))
    reference = format_mthds(bundle.text).formatted
    in_string = False
    undone: list[str] = []
    for line in reference.split("\n"):
        key_line = None if in_string else _KEY_LINE.match(line)
        if key_line is not None:
            before = data.draw(st.sampled_from(["", " ", "\t", "   "]))
            after = data.draw(st.sampled_from(["", " ", "  "]))
            line = f"{key_line.group(1)}{before}={after}{line[key_line.end() :]}"
        undone.append(line)
        in_string = in_string != (line.count('"""') % 2 == 1)
    assert format_mthds("\n".join(undone)).formatted == reference


# --- generated TOML documents --------------------------------------------------------------------


@dataclass
class Written:
    """A generated document: its text, and the comments and multi-line strings it holds."""

    comments: list[str] = field(default_factory=list[str])
    long_strings: list[str] = field(default_factory=list[str])


_SPACE = st.sampled_from(["", " ", "  ", "\t"])
_COMMENT_TEXT = st.text(
    st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\u2028\u2029") | st.just("\t"),
    max_size=20,
)
_LINE_TEXT = st.text(
    st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="'\"\\"), max_size=12
)
_BARE_KEYS = st.sampled_from(["a", "bb", "key", "x_1", "dash-k", "Code", "1"])
_QUOTED_KEYS = st.sampled_from(['"q.k"', "'lit'", '"é"', '"a b"'])


def _scalars() -> st.SearchStrategy[str]:
    return st.one_of(
        st.integers(-1000, 10**9).map(str),
        st.sampled_from(["1.5", "-0.0", "inf", "nan", "1e3", "true", "false", "1979-05-27", "07:32:00"]),
        st.sampled_from(["1979-05-27 07:32:00Z", "1979-05-27T00:32:00.999999-07:00", "0xDEAD", "1_000"]),
        # JSON escapes the control characters as TOML does (DEL is left out: JSON keeps it raw).
        st.text(
            st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("\n\t\x00\x1f"), max_size=15
        ).map(lambda text: json.dumps(text, ensure_ascii=False)),
        _LINE_TEXT.map(lambda text: f"'{text}'"),
    )


def _long_string(written: Written) -> st.SearchStrategy[str]:
    pieces = st.lists(
        st.one_of(_LINE_TEXT, st.sampled_from(["\n", "\r\n", "# x", "  ", "[t]", "a = 1"])), max_size=8
    )

    def build(parts: list[str], literal: bool) -> str:
        quote = "'''" if literal else '"""'
        text = quote + "".join(parts) + quote
        written.long_strings.append(text)
        return text

    return st.builds(build, pieces, st.booleans())


def _comment(written: Written) -> st.SearchStrategy[str]:
    def build(text: str) -> str:
        written.comments.append(("#" + text).rstrip())
        return "#" + text

    return _COMMENT_TEXT.map(build)


def _values(written: Written, depth: int) -> st.SearchStrategy[str]:
    leaves = st.one_of(_scalars(), _long_string(written))
    if depth >= 2:
        return leaves
    return st.one_of(leaves, _arrays(written, depth + 1), _inline_tables(written, depth + 1))


@st.composite
def _keys(draw: st.DrawFn) -> list[str]:
    """Distinct keys of one table; some dotted (their first parts are distinct too)."""
    names = draw(st.lists(st.one_of(_BARE_KEYS, _QUOTED_KEYS), unique=True, max_size=4))
    return [f"{name}.sub" if draw(st.booleans()) else name for name in names]


def _comment_or_blank(draw: st.DrawFn, written: Written, indent: str) -> str:
    return indent + draw(_comment(written)) if draw(st.booleans()) else ""


@st.composite
def _arrays(draw: st.DrawFn, written: Written, depth: int) -> str:
    items = draw(st.lists(_values(written, depth), max_size=4))
    if not draw(st.booleans()):
        trailing = "," if items and draw(st.booleans()) else ""
        return "[" + draw(_SPACE) + ", ".join(items) + trailing + draw(_SPACE) + "]"
    lines = ["[" + (" " + draw(_comment(written)) if draw(st.booleans()) else "")]
    for item in items:
        lines += [_comment_or_blank(draw, written, "  ") for _ in range(draw(st.integers(0, 3)))]
        comment = " " + draw(_comment(written)) if draw(st.booleans()) else ""
        lines.append(draw(_SPACE) + item + "," + comment)
    return "\n".join(lines) + "\n" + draw(_SPACE) + "]"


@st.composite
def _inline_tables(draw: st.DrawFn, written: Written, depth: int) -> str:
    keys = draw(_keys())
    pairs = [f"{key}{draw(_SPACE)}={draw(_SPACE)}{draw(_values(written, depth))}" for key in keys]
    return "{" + draw(_SPACE) + ",".join(pairs) + draw(_SPACE) + "}"


@st.composite
def _entries(draw: st.DrawFn, written: Written) -> list[str]:
    lines: list[str] = []
    for key in draw(_keys()):
        lines += [_comment_or_blank(draw, written, draw(_SPACE)) for _ in range(draw(st.integers(0, 1)))]
        value = draw(_values(written, 0))
        comment = draw(_SPACE) + " " + draw(_comment(written)) if draw(st.booleans()) else draw(_SPACE)
        lines.append(f"{draw(_SPACE)}{key}{draw(_SPACE)}={draw(_SPACE)}{value}{comment}")
    return lines


@st.composite
def toml_documents(draw: st.DrawFn) -> tuple[str, Written]:
    """A small valid TOML document with comments, blank lines, odd spacing and every kind of value."""
    written = Written()
    lines = draw(_entries(written))
    tables = draw(st.lists(st.sampled_from(["t", "pipe.a", 'pipe."b c"', "u.v.w"]), unique=True, max_size=3))
    for name in tables:
        lines += [""] * draw(st.integers(0, 4))
        header = f"[{draw(_SPACE)}{name}{draw(_SPACE)}]"
        comment = " " + draw(_comment(written)) if draw(st.booleans()) else ""
        lines.append(header + comment)
        lines += draw(_entries(written))
    for _ in range(draw(st.integers(0, 2))):
        lines.append("[[items]]")
        lines += draw(_entries(written))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return newline.join(lines) + draw(st.sampled_from(["", newline, newline * 3])), written


@settings(max_examples=150, deadline=None)
@given(document=toml_documents(), width=st.integers(10, 120))
def test_generated_documents_keep_data_comments_and_strings(
    document: tuple[str, Written], width: int
) -> None:
    text, written = document
    tomllib.loads(text)  # the generator writes valid TOML only
    result = assert_formatted_well(text, column_width=width)
    for comment in written.comments:
        assert comment in result
    for long_string in written.long_strings:
        assert long_string in result
