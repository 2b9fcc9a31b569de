"""Static analysis of templates: roots, guards, private reads, paths, and filters per category."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.language.template_analysis import (
    TemplateAnalysis,
    TemplateCategory,
    TemplateSyntaxFault,
    analyze_expression,
    analyze_template,
)

PROMPT = TemplateCategory.LLM_PROMPT


def analyze(source: str, category: TemplateCategory = PROMPT) -> TemplateAnalysis:
    return analyze_template(source, category)


def test_dollar_sigils_are_roots() -> None:
    analysis = analyze("Write the berth note for $vessel arriving on the $tide tide.")
    assert analysis.roots == frozenset({"vessel", "tide"})
    assert analysis.unguarded_roots == frozenset({"vessel", "tide"})
    assert analysis.paths == frozenset({("vessel",), ("tide",)})


def test_a_trailing_dot_is_punctuation() -> None:
    analysis = analyze(
        "Write a reminder that $book_title is due back.\nSay which shelf it belongs on: $shelf.\n"
    )
    assert analysis.roots == frozenset({"book_title", "shelf"})
    assert "shelf" in analysis.unguarded_roots


def test_private_read_is_reported_up_to_the_private_segment() -> None:
    analysis = analyze("Name the note by its record code: {{ triage_note._stuff.stuff_code }}.")
    assert analysis.private_reads == ("triage_note._stuff",)
    assert analysis.roots == frozenset({"triage_note"})


@pytest.mark.parametrize(
    ("source", "private_reads"),
    [
        (
            "{{ note._stuff_name }} {{ note._content_class }} {{ note._concept_code }} {{ note._stuff_code }}",
            (),
        ),
        ("{{ note['_secret'] }}", ("note._secret",)),
        ("{{ ''.__class__.__mro__ }}", ("''.__class__",)),
        ("{{ _hidden }}", ("_hidden",)),
        ("{{ _nb_output }}", ()),
        ("{% for item in items %}{{ item.__dict__ }}{% endfor %}", ("item.__dict__",)),
        ("{{ a._x }}{{ a._x }}{{ b.c._y.z }}", ("a._x", "b.c._y")),
    ],
)
def test_private_reads(source: str, private_reads: tuple[str, ...]) -> None:
    assert analyze(source).private_reads == private_reads


def test_optional_sigil_and_defined_block_guard_their_root() -> None:
    source = (
        "Write one short sentence about $subject for the village noticeboard.\n\n"
        "@?style_hint\n{% if style_hint is defined %}\nFollow the style hint above.\n{% endif %}\n"
    )
    analysis = analyze(source)
    assert analysis.roots == frozenset({"subject", "style_hint"})
    assert analysis.unguarded_roots == frozenset({"subject"})


@pytest.mark.parametrize(
    "source",
    [
        "{% if hint %}{{ hint.text }}{% endif %}",
        "{% if hint is defined %}$hint{% endif %}",
        "{% if hint is not undefined %}{{ hint.text }}{% endif %}",
        "{% if hint and hint.text %}{{ hint }}{% endif %}",
        "{% if hint is defined and other %}{{ hint.text }}{% endif %}",
        "{% if other and hint %}{{ hint }}{% endif %}",
        "{% if not hint %}none{% endif %}",
        "{% if hint is undefined or hint is none %}none{% endif %}",
        "{{ hint.text if hint else 'none' }}",
        "{{ hint.text if hint is defined else 'none' }}",
        "{{ hint is defined }}",
        "{{ hint|default('none') }}",
        "{{ hint | default }}",
        "{% if outer %}{% if hint %}{% for x in hint %}{{ x }}{% endfor %}{% endif %}{% endif %}",
        "@?hint",
    ],
)
def test_guarded_reads(source: str) -> None:
    analysis = analyze(source)
    assert "hint" in analysis.roots
    assert "hint" not in analysis.unguarded_roots


@pytest.mark.parametrize(
    "source",
    [
        "$hint",
        "@hint",
        "{% if hint %}yes{% else %}{{ hint.text }}{% endif %}",
        "{% if other %}{% elif hint %}{% else %}{{ hint }}{% endif %}",
        "{% if other %}{{ hint }}{% endif %}",
        "{% if hint or other %}{{ hint.text }}{% endif %}",
        "{% if not hint %}{{ hint.text }}{% endif %}",
        "{% if hint.text %}x{% endif %}",
        "{{ 'none' if hint else hint.text }}",
        "{{ hint.text|default('none') }}",
        "{% for x in items if hint %}{{ hint }}{% endfor %}",
        "{% if hint %}{% endif %}{{ hint }}",
        # An absent optional input is undefined, and undefined "is not none": no guard.
        "{% if hint is not none %}{{ hint.text }}{% endif %}",
    ],
)
def test_unguarded_reads(source: str) -> None:
    assert "hint" in analyze(source).unguarded_roots


def test_the_guard_of_an_elif_guards_its_own_branch() -> None:
    analysis = analyze("{% if other %}{{ other }}{% elif hint %}{{ hint.text }}{% endif %}")
    assert analysis.unguarded_roots == frozenset()


def test_loop_variables_are_not_roots() -> None:
    analysis = analyze(
        "{% for caption in captions %}- {{ caption.text }}\n{% endfor %}", TemplateCategory.BASIC
    )
    assert analysis.roots == frozenset({"captions"})
    assert analysis.paths == frozenset({("captions",)})


@pytest.mark.parametrize(
    ("source", "roots"),
    [
        ("{% set total = price %}{{ total }}", {"price"}),
        ("{{ total }}{% set total = 1 %}{{ total }}", {"total"}),
        ("{% if a %}{% set k = 1 %}{% else %}{% set k = 2 %}{% endif %}{{ k }}", {"a"}),
        ("{% if a %}{% set k = 1 %}{% endif %}{{ k }}", {"a", "k"}),
        ("{% with shown = order.customer %}{{ shown }}{% endwith %}{{ shown }}", {"order", "shown"}),
        (
            "{% macro line(item, sep=joiner_text) %}{{ item }}{{ caller() }}{% endmacro %}{{ line(1) }}",
            {"joiner_text"},
        ),
        ("{% call line(order) %}{{ varargs }}{% endcall %}", {"line", "order"}),
        ("{% set ns = namespace(count=0) %}{% set ns.count = ns.count + 1 %}{{ ns.count }}", set[str]()),
        (
            "{% for i in range(3) %}{{ loop.index }}{{ cycler(1, 2).next() }}{% endfor %}{{ dict(a=1) }}",
            set[str](),
        ),
        ("{% for k, v in pairs %}{{ k }}{{ v }}{% endfor %}", {"pairs"}),
        ("{% set body %}{{ intro }}{% endset %}{{ body }}", {"intro"}),
        ("{% filter upper %}{{ shout }}{% endfilter %}", {"shout"}),
    ],
)
def test_roots_exclude_locals_and_globals(source: str, roots: set[str]) -> None:
    assert analyze(source, TemplateCategory.BASIC).roots == frozenset(roots)


def test_paths_of_dotted_reads() -> None:
    analysis = analyze("{{ line.article }}: {{ line.amount }} {{ currency.text }}", TemplateCategory.BASIC)
    assert analysis.paths == frozenset({("line", "article"), ("line", "amount"), ("currency", "text")})
    assert analysis.roots == frozenset({"line", "currency"})


def test_a_subscript_ends_a_path() -> None:
    analysis = analyze("{{ order.lines[0].article }} {{ order['customer'] }}", TemplateCategory.BASIC)
    assert analysis.paths == frozenset({("order", "lines"), ("order",)})


@pytest.mark.parametrize(
    ("category", "allowed"),
    [
        (TemplateCategory.BASIC, {"format", "tag"}),
        (TemplateCategory.EXPRESSION, set[str]()),
        (TemplateCategory.HTML, {"format", "tag", "escape_script_tag", "markdown"}),
        (TemplateCategory.MARKDOWN, {"format", "tag", "escape_script_tag"}),
        (TemplateCategory.MERMAID, set[str]()),
        (TemplateCategory.LLM_PROMPT, {"format", "tag", "with_images"}),
        (TemplateCategory.IMG_GEN_PROMPT, {"format", "tag", "with_images"}),
    ],
)
def test_custom_filters_per_category(category: TemplateCategory, allowed: set[str]) -> None:
    for name in ("tag", "escape_script_tag", "markdown", "with_images"):
        source = f"{{{{ value | {name} }}}} {{{{ value|upper|length }}}}"
        if name in allowed:
            analyze_template(source, category)
        else:
            with pytest.raises(TemplateSyntaxFault, match=f"'{name}'"):
                analyze_template(source, category)


def test_markdown_filter_is_html_only() -> None:
    assert analyze("{{ order.wishes | markdown }}", TemplateCategory.HTML).paths == frozenset(
        {("order", "wishes")}
    )
    with pytest.raises(TemplateSyntaxFault, match="'markdown' is not available in basic templates") as fault:
        analyze("\n{{ order.wishes | markdown }}", TemplateCategory.BASIC)
    assert fault.value.line == 2


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ x | shout }}", "unknown filter 'shout'"),
        ("{{ items | random }}", "deterministically"),
        ("{% if x is shouting %}{% endif %}", "unknown test 'shouting'"),
        ('{% include "other.html" %}', "cannot extend, include or import"),
        ('{% extends "base.html" %}', "cannot extend, include or import"),
        ("{% filter shout %}x{% endfilter %}", "unknown filter 'shout'"),
    ],
)
def test_refused_filters_tests_and_loads(source: str, message: str) -> None:
    with pytest.raises(TemplateSyntaxFault, match=message):
        analyze(source)


def test_syntax_errors_carry_their_line() -> None:
    with pytest.raises(TemplateSyntaxFault) as fault:
        analyze("line one\n{% if %}\n{% endif %}")
    assert fault.value.line == 2
    assert fault.value.message


def test_sigils_can_be_left_alone() -> None:
    assert analyze_template("$price {{ total }}", TemplateCategory.BASIC, sigils=False).roots == frozenset(
        {"total"}
    )


def test_expressions() -> None:
    analysis = analyze_expression('route.choice == "urgent" and not fragile.yes_no')
    assert analysis.roots == frozenset({"route", "fragile"})
    assert analysis.paths == frozenset({("route", "choice"), ("fragile", "yes_no")})


@pytest.mark.parametrize("expression", ["x | tag", "x }}{{ y", "", "x +"])
def test_bad_expressions(expression: str) -> None:
    with pytest.raises(TemplateSyntaxFault):
        analyze_expression(expression)


_JINJA_PIECES = st.sampled_from(
    [
        "{{", "}}", "{%", "%}", "{#", "#}", "if", "endif", "for", "in", "endfor", "set", "=", "x", "y.z", "_p",
        "|", "default", "tag", "markdown", "(", ")", "[", "]", "'s'", "1", "is", "defined", "not", "and", "$x",
        "@y", "@?z", "\n", " ", ".", ",", "else", "macro", "endmacro", "~", "*", "with", "endwith", "loop",
    ]
)  # fmt: skip


@given(st.text(), st.sampled_from(list(TemplateCategory)))
def test_random_text_only_ever_raises_a_syntax_fault(source: str, category: TemplateCategory) -> None:
    try:
        analysis = analyze_template(source, category)
    except TemplateSyntaxFault:
        return
    assert analysis.unguarded_roots <= analysis.roots


@given(st.lists(_JINJA_PIECES, max_size=40).map(" ".join), st.sampled_from(list(TemplateCategory)))
def test_jinja_shaped_text_only_ever_raises_a_syntax_fault(source: str, category: TemplateCategory) -> None:
    try:
        analysis = analyze_template(source, category)
    except TemplateSyntaxFault:
        return
    assert {path[0] for path in analysis.paths} <= analysis.roots
