"""The MTHDS sigils rewritten to Jinja (mthds.md §3.1), and the inline `@x` finder the validator uses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.language.sigils import find_inline_at_roots, preprocess_sigils
from shared.language.template_analysis import TemplateCategory
from shared.language.template_render import render_template
from shared.language.template_stuff import TemplateStuff


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Write the berth note for $vessel arriving on the $tide tide.",
            "Write the berth note for {{ vessel|format() }} arriving on the {{ tide|format() }} tide.",
        ),
        ("Total: $order.total.amount", "Total: {{ order.total.amount|format() }}"),
        ("Say which shelf it belongs on: $shelf.", "Say which shelf it belongs on: {{ shelf|format() }}."),
        ("Lines: $parcel.lines.", "Lines: {{ parcel.lines|format() }}."),
        ("$user's parcel", "{{ user|format() }}'s parcel"),
        ("($note)", "({{ note|format() }})"),
        ("$_private", "{{ _private|format() }}"),
    ],
)
def test_dollar_sigils_become_format_calls(text: str, expected: str) -> None:
    assert preprocess_sigils(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "micro$oft",
        "It costs $100.",
        "$9lives",
        "$foo (bar)",
        "$foo {bar}",
        '$foo "bar"',
        "$foo 'bar'",
        "$foo\t(bar)",
        "a lone $ sign",
        "${shell}",
        "$(command)",
    ],
)
def test_dollar_sigils_left_as_text(text: str) -> None:
    assert preprocess_sigils(text) == text


def test_at_sigil_alone_on_its_line_becomes_a_tag_keeping_its_blanks() -> None:
    text = "Read this:\n  @notes \t\nThanks."
    assert preprocess_sigils(text) == 'Read this:\n  {{ notes|tag("notes") }} \t\nThanks.'


def test_dotted_at_sigil_is_tagged_with_its_full_path() -> None:
    assert preprocess_sigils("@order.customer") == '{{ order.customer|tag("order.customer") }}'


def test_optional_at_sigil_is_wrapped_in_a_presence_test() -> None:
    assert preprocess_sigils("@?style_hint") == (
        '{% if style_hint %}{{ style_hint|tag("style_hint") }}{% endif %}'
    )


@pytest.mark.parametrize(
    "text", ["Mail me at ann@example.com", "see @notes here", "@media (max-width: 600px)"]
)
def test_inline_at_stays_text(text: str) -> None:
    assert preprocess_sigils(text) == text


def test_escapes_become_literal_characters() -> None:
    assert preprocess_sigils("Price: $$5, $$price, @@home\n@@notes") == "Price: $5, $price, @home\n@notes"
    assert preprocess_sigils("$$$price") == "${{ price|format() }}"


def test_escapes_print_literally_through_jinja() -> None:
    price = TemplateStuff("Number", {"number": 12.5}, stuff_name="price")
    rendered = render_template(
        "Pay $$$price, not $$price; ask @@desk.\n@@price", TemplateCategory.BASIC, {"price": price}
    )
    assert rendered == "Pay $12.5, not $price; ask @desk.\n@price"


def test_line_endings_are_normalized() -> None:
    assert preprocess_sigils("a\r\n@notes\r\nb\rc") == 'a\n{{ notes|tag("notes") }}\nb\nc'


def test_inline_at_roots_lists_only_inline_candidates() -> None:
    text = "\n".join(
        [
            "@alone",
            "  @?also_alone  ",
            "Inline @shelf.code and @?hint here",
            "ann@example.com @@escaped",
            "@media (max-width: 600px) {",
        ]
    )
    assert find_inline_at_roots(text) == frozenset({"shelf", "hint", "media"})


def test_inline_at_roots_of_text_without_at_is_empty() -> None:
    assert find_inline_at_roots("$price and {{ total }}") == frozenset()


@given(st.text())
def test_preprocessing_any_text_is_total_and_normalizes_line_endings(text: str) -> None:
    rewritten = preprocess_sigils(text)
    assert "\r" not in rewritten
    assert isinstance(find_inline_at_roots(text), frozenset)


@given(st.text(alphabet=st.characters(blacklist_characters="$@\r")))
def test_text_without_sigil_characters_is_unchanged(text: str) -> None:
    assert preprocess_sigils(text) == text


@given(
    st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True), st.sampled_from([" ", ".", ",", "!", "\n", ""])
)
def test_every_dollar_identifier_expands(name: str, after: str) -> None:
    assert preprocess_sigils(f"x ${name}{after}") == f"x {{{{ {name}|format() }}}}{after}"
