"""Rendering templates in the sandbox: values, filters, strictness, security and the render budget."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.language.template_analysis import TemplateCategory
from shared.language.template_render import TemplateRenderFault, render_expression, render_template
from shared.language.template_stuff import TemplateStuff

BASIC = TemplateCategory.BASIC
PROMPT = TemplateCategory.LLM_PROMPT
BUDGET = "pipe.template_budget_exceeded"
FAILED = "pipe.template_render_failed"


def text(value: str, name: str = "text") -> TemplateStuff:
    return TemplateStuff("Text", {"text": value}, stuff_name=name, stuff_code="ABCDE")


def render(source: str, category: TemplateCategory = BASIC, **variables: Any) -> str:
    return render_template(source, category, variables)


def fault_of(source: str, category: TemplateCategory = BASIC, **variables: Any) -> TemplateRenderFault:
    with pytest.raises(TemplateRenderFault) as caught:
        render_template(source, category, variables)
    return caught.value


ORDER = TemplateStuff(
    "cake_orders.CakeOrder",
    {"customer": "Maëlle", "lines": [{"article": "tart", "amount": 9.0}], "items": "a field named items"},
    stuff_name="order",
    stuff_code="X8WE6",
    native_base="Structured",
)


@pytest.mark.parametrize(
    ("stuff", "plain"),
    [
        (text("euros"), "euros"),
        (TemplateStuff("Markdown", {"text": "**bold**"}), "**bold**"),
        (TemplateStuff("Number", {"number": 9.0}), "9.0"),
        (TemplateStuff("Number", {"number": 3}), "3"),
        (TemplateStuff("YesNo", {"yes_no": True, "probability": None}), "yes"),
        (TemplateStuff("YesNo", {"yes_no": False, "probability": 0.2}), "no"),
        (TemplateStuff("Choice", {"choice": "urgent", "confidence": None, "probabilities": None}), "urgent"),
        (TemplateStuff("Rating", {"level": 4, "label": "good"}), "good"),
        (TemplateStuff("Rating", {"level": 4, "label": None}), "4"),
        (TemplateStuff("Date", {"date": "2026-04-02", "time": None}), "2026-04-02"),
        (
            TemplateStuff("Date", {"date": "2026-04-02", "time": "08:15:00+02:00"}),
            "2026-04-02T08:15:00+02:00",
        ),
        (TemplateStuff("Time", {"time": "07:45:00"}), "07:45:00"),
        (TemplateStuff("JSON", {"json_obj": {"total": 12}}), '{\n    "total": 12\n}'),
        (TemplateStuff("Html", {"inner_html": "<b>hi</b>", "css_class": None}), "<b>hi</b>"),
        (
            TemplateStuff("shop.Crate", {"label": "A1", "lines": [{"sku": "x", "count": 2}], "note": None}),
            "# label: A1\n\n# lines\n\n- ## sku: x\n  ## count: 2\n\n# note: None",
        ),
        (TemplateStuff("Text", {"items": [{"text": "a"}, {"text": "b"}]}, is_list=True), " • a\n • b\n"),
        (
            TemplateStuff("Number", {"items": [{"number": 1}, {"number": 2.5}]}, is_list=True),
            "\n • item #1:\n\n1\n\n • item #2:\n\n2.5\n",
        ),
    ],
)
def test_plain_rendering_of_whole_values(stuff: TemplateStuff, plain: str) -> None:
    assert render("$x", x=stuff) == plain
    assert render("{{ x }}", x=stuff) == plain


def test_field_reads_metadata_and_iteration() -> None:
    captions = TemplateStuff(
        "Text", {"items": [{"text": "dawn"}, {"text": "dusk"}]}, is_list=True, stuff_name="caps"
    )
    source = (
        "{{ order.customer }} {{ order.lines[0].article }} {{ order.items }}|"
        "{% for line in order.lines %}{{ line.article }}: {{ line.amount }} {{ currency.text }}{% endfor %}|"
        "{% for caption in captions %}- {{ caption.text }}/{{ caption }}\n{% endfor %}|"
        "{{ order._stuff_name }} {{ order._stuff_code }} {{ order._concept_code }} {{ order._content_class }} "
        "{{ captions._content_class }} {{ captions|length }} {{ captions[1].text }} {{ order.missing }}"
    )
    assert render(source, order=ORDER, currency=text("euros"), captions=captions) == (
        "Maëlle tart a field named items|tart: 9.0 euros|- dawn/dawn\n- dusk/dusk\n|"
        "order X8WE6 cake_orders.CakeOrder CakeOrder ListContent 2 dusk "
    )


def test_truthiness_of_stuffs() -> None:
    empty = TemplateStuff("Text", {"items": []}, is_list=True)
    flag = TemplateStuff("YesNo", {"yes_no": True})
    source = "{% if x %}x{% endif %}{% if empty %}e{% endif %}{% if flag.yes_no %}f{% endif %}"
    assert render(source, x=text(""), empty=empty, flag=flag) == "xf"


def test_format_filter_formats() -> None:
    doc = TemplateStuff("Markdown", {"text": "**hi** <b>"})
    assert render("{{ x|format('json') }}", x=text("a")) == '{"text": "a"}'
    as_markdown = render(
        "{{ x|format('markdown') }}", x=TemplateStuff("JSON", {"json_obj": {"a": [1, 2], "b": 3}})
    )
    assert as_markdown == "# a\n\n- 1\n- 2\n\n# b: 3"
    assert render("{{ x|format('html') }}", x=text("<b>")) == "&lt;b&gt;"
    assert (
        render("{{ d|format('html') }}", TemplateCategory.HTML, d=doc)
        == "<p><strong>hi</strong> &lt;b&gt;</p>\n"
    )
    assert render("$d", TemplateCategory.HTML, d=doc) == "<p><strong>hi</strong> &lt;b&gt;</p>\n"
    assert render("{{ d|format('plain') }}", TemplateCategory.HTML, d=doc) == "**hi** &lt;b&gt;"
    assert render_template("$x", BASIC, {"x": ORDER}, text_format="json").startswith('{\n    "customer"')
    fault = fault_of("{{ x|format('yaml') }}", x=text("a"))
    assert fault.code == FAILED
    assert "plain, markdown, html, json" in fault.message


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        ("xml", "<notes>\nkeep dry\n</notes>"),
        ("ticks", "notes: ```\nkeep dry\n```"),
        ("square_brackets", "[notes]\nkeep dry\n[/notes]"),
        ("no_tag", "keep dry"),
    ],
)
def test_tag_styles(style: str, expected: str) -> None:
    rendered = render_template("@notes", PROMPT, {"notes": text("keep dry", "whatever")}, tag_style=style)
    assert rendered == expected


def test_tag_names_default_to_the_stuff_name_then_data() -> None:
    assert render("{{ n|tag }}|{{ 'loose'|tag }}|{{ n|tag('given') }}", n=text("v", "note")) == (
        "<note>\nv\n</note>|<data>\nloose\n</data>|<given>\nv\n</given>"
    )
    with pytest.raises(TemplateRenderFault):
        render_template("@notes", PROMPT, {}, tag_style="fancy")


def test_optional_sigil_skips_an_absent_value_even_when_strict() -> None:
    source = "Note:\n@?hint\n{% if hint is defined %}Follow it.{% endif %}"
    assert render_template(source, PROMPT, {}, strict=True) == "Note:\n\n"
    assert (
        render_template(source, PROMPT, {"hint": text("short")})
        == "Note:\n<hint>\nshort\n</hint>\nFollow it."
    )


def test_undefined_is_lenient_unless_strict() -> None:
    assert render("[{{ missing }}][$missing]") == "[][]"
    fault = fault_of("{{ missing.text }}")
    assert fault.code == FAILED
    with pytest.raises(TemplateRenderFault, match="missing"):
        render_template("[{{ missing }}]", BASIC, {}, strict=True)
    assert fault_of("@missing", PROMPT).code == FAILED


def test_html_autoescapes_and_trims_blocks() -> None:
    source = "<p>{{ x }}</p>\n{% if x %}\n  <i>{{ x.text }}</i>\n{% endif %}\n"
    assert (
        render(source, TemplateCategory.HTML, x=text("<b>&"))
        == "<p>&lt;b&gt;&amp;</p>\n  <i>&lt;b&gt;&amp;</i>\n"
    )
    assert render("{% if x %}\nyes\n  {% endif %}", TemplateCategory.MARKDOWN, x=text("a")) == "yes\n"
    assert render("{% if x %}\nyes\n  {% endif %}", BASIC, x=text("a")) == "\nyes\n  "


def test_markdown_filter_on_a_cake_order_slip() -> None:
    wishes = (
        "**Nut-free**: one of the guests is allergic.\n\n- Candles: 8\n- Writing: *Joyeux anniversaire*\n\n"
        "The cake to copy is at https://example.com/cakes/forest, saved as forest.jpg.\n\nCollection: Saturday<br>before noon"
    )
    order = TemplateStuff("cake_orders.CakeOrder", {"customer": "Maëlle Le Goff", "wishes": wishes})
    rendered = render(
        "<h2>Order for {{ order.customer }}</h2>\n{{ order.wishes | markdown }}\n",
        TemplateCategory.HTML,
        order=order,
    )
    assert rendered.startswith("<h2>Order for Maëlle Le Goff</h2>\n<p><strong>Nut-free</strong>: one of")
    assert "<li>Writing: <em>Joyeux anniversaire</em></li>" in rendered
    assert (
        '<a href="https://example.com/cakes/forest">https://example.com/cakes/forest</a>, saved as forest.jpg.'
        in rendered
    )
    assert "Saturday&lt;br&gt;before noon" in rendered


def test_escape_script_tag() -> None:
    source = "<script>var data = {{ payload|tojson|escape_script_tag }};</script>"
    rendered = render(source, TemplateCategory.HTML, payload={"note": "</script><b>"})
    assert rendered == '<script>var data = {"note": "\\u003c/script\\u003e\\u003cb\\u003e"};</script>'


def test_images_become_numbered_placeholders_in_prompts() -> None:
    photo = TemplateStuff("Image", {"url": "https://img.example/a.png"}, stuff_name="photo")
    page = TemplateStuff(
        "Page",
        {
            "text_and_images": {"text": {"text": "leaf"}, "images": None, "raw_html": None},
            "page_view": {"url": "data:image/png;base64,AA"},
        },
    )
    source = "Look at $photo and $page.page_view, again $photo.\n{{ page|with_images }}"
    assert render(source, PROMPT, photo=photo, page=page) == (
        "Look at [Image 1] and [Image 2], again [Image 1].\ntext_and_images: text: text: leaf\npage_view: [Image 2]"
    )
    assert render("$photo", BASIC, photo=photo) == "https://img.example/a.png"


def test_expressions_render_to_text() -> None:
    variables = {
        "fragile": TemplateStuff("YesNo", {"yes_no": True}),
        "route": TemplateStuff("Choice", {"choice": "urgent"}),
    }
    assert render_expression("fragile.yes_no", variables) == "True"
    assert render_expression("not fragile.yes_no", variables) == "False"
    assert render_expression("route.choice", variables) == "urgent"
    assert render_expression("route", variables) == "urgent"
    assert render_expression("nothing", variables) == ""
    assert fault_of("{{ x|tag }}", TemplateCategory.EXPRESSION, x=1).code == FAILED


def test_extra_context_is_visible() -> None:
    assert render_template("{{ _nb_output }} items", BASIC, {}, extra_context={"_nb_output": 3}) == "3 items"


def test_plain_methods_and_jinja_runtime_work() -> None:
    source = (
        "{{ ' a,b '.strip().split(',')|join('+') }} {{ '{}-{}'.format(1, 2) }} {{ '%03d' % 7 }} "
        "{{ {'k': 1}.items()|list }} {% set ns = namespace(n=0) %}{% for i in range(4) %}{% set ns.n = ns.n + i %}"
        "{% endfor %}{{ ns.n }} {{ cycler('x', 'y').next() }} {{ 'ab' ~ 'cd' }} {{ 2 ** 10 }} {{ 'ab' * 2 }}"
        "{% macro twice(v) %}{{ v }}{{ v }}{% endmacro %} {{ twice('z') }}"
    )
    assert render(source) == "a+b 1-2 007 [('k', 1)] 6 x abcd 1024 abab zz"


@pytest.mark.parametrize(
    "source",
    [
        "{{ x.__class__ }}",
        "{{ ''.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ x._stuff }}",
        "{{ x['_stuff'] }}",
        "{{ x|attr('__class__') }}",
        "{{ [x]|map(attribute='__dict__')|list }}",
        "{{ self.__dict__ }}",
        "{{ namespace(a=1).__dict__ }}",
        "{{ '{0.__class__}'.format(1) }}",
        "{{ 'a'.encode() }}",
        "{{ dict.fromkeys(range(3)) }}",
        "{{ order.lines.append(1) }}",
        "{{ lipsum() }}",
        "{{ [1, 2]|random }}",
        '{% include "other.html" %}',
    ],
)
def test_the_sandbox_refuses(source: str) -> None:
    assert fault_of(source, x=text("secret"), order=ORDER).code == FAILED


@pytest.mark.parametrize(
    "source",
    [
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{{ 'a' * 10**9 }}",
        "{{ [1, 2] * 10**8 }}",
        "{{ 2 ** 100000 }}",
        "{{ '%0999999999d' % 1 }}",
        "{{ '{:>999999999}'.format(1) }}",
        "{{ 'a'|center(10**9) }}",
        "{{ 'a'.zfill(10**9) }}",
        "{{ 'a\tb'.expandtabs(10**9) }}",
        "{{ 'a'|indent(10**9) }}",
        "{{ range(100000)|join('x' * 1000) }}",
        "{{ ('x' * 500000)|replace('', 'yyy') }}",
        "{{ [1]|batch(10**9, 0)|list }}",
        "{% set ns = namespace(s='x' * 1000) %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        "{% set s = 'x' * 900000 %}{% set big %}{% for i in range(100000) %}{{ s }}{% endfor %}{% endset %}",
        "{% set r = range(100000)|list %}{{ [r, r, r, r, r, r, r, r, r, r, r, r, r, r] }}",
        "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}",
        "{% for i in [1] recursive %}{{ loop(range(100000)) if loop.depth < 3 }}{% endfor %}",
    ],
)
def test_the_budget_stops_runaway_templates_quickly(source: str) -> None:
    started = time.perf_counter()
    fault = fault_of(source)
    assert fault.code == BUDGET
    assert time.perf_counter() - started < 5


def test_loop_limit_of_a_range_larger_than_the_sandbox_allows() -> None:
    assert fault_of("{% for i in range(10**9) %}{% endfor %}").code == FAILED


def test_custom_limits() -> None:
    with pytest.raises(TemplateRenderFault, match="longer than 10") as caught:
        render_template("{{ 'x' * 8 }}{{ 'y' * 8 }}", BASIC, {}, max_output_chars=10)
    assert caught.value.code == BUDGET
    with pytest.raises(TemplateRenderFault, match="5 loop iterations"):
        render_template("{% for i in range(6) %}{% endfor %}", BASIC, {}, max_iterations=5)
    assert (
        render_template("{% for i in range(5) %}{{ i }}{% endfor %}", BASIC, {}, max_iterations=5) == "01234"
    )


def test_concurrent_renders_keep_their_own_state() -> None:
    source = "{% for i in range(50) %}{% endfor %}$photo, {{ n.text }}"

    def one(index: int) -> str:
        photo = TemplateStuff("Image", {"url": f"https://img.example/{index}.png"})
        return render_template(source, PROMPT, {"photo": photo, "n": text(str(index))}, max_iterations=60)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, range(64)))
    assert results == [f"[Image 1], {index}" for index in range(64)]


_PIECES = st.sampled_from(
    [
        "{{", "}}", "{%", "%}", "if", "endif", "for", "in", "endfor", "set", "=", "x", "x.text", "items", "|",
        "tag", "format", "upper", "length", "join", "(", ")", "[", "]", "'s'", "9", "*", "**", "~", "+", "%",
        "$x", "@x", "@?x", "\n", " ", ".", "_stuff", "__class__", "range", "loop", "is", "defined", "not",
    ]
)  # fmt: skip


def outcome(source: str, category: TemplateCategory, *, strict: bool = False) -> str:
    """ "rendered", or the code of the fault: any other exception fails the test by escaping."""
    items = TemplateStuff("Text", {"items": [{"text": "a"}]}, is_list=True)
    variables = {"x": text("v", "x"), "items": items}
    try:
        render_template(source, category, variables, strict=strict, max_output_chars=10_000)
    except TemplateRenderFault as fault:
        return fault.code
    return "rendered"


@settings(deadline=None)
@given(st.text(), st.sampled_from(list(TemplateCategory)), st.booleans())
def test_random_text_only_ever_raises_a_render_fault(
    source: str, category: TemplateCategory, strict: bool
) -> None:
    assert outcome(source, category, strict=strict) in {"rendered", BUDGET, FAILED}


@settings(deadline=None)
@given(st.lists(_PIECES, max_size=40).map(" ".join), st.sampled_from(list(TemplateCategory)), st.booleans())
def test_jinja_shaped_text_only_ever_raises_a_render_fault(
    source: str, category: TemplateCategory, strict: bool
) -> None:
    assert outcome(source, category, strict=strict) in {"rendered", BUDGET, FAILED}
