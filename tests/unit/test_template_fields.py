"""Templates reading a field their concept does not declare: a validation warning, and a failed render at run time."""

from __future__ import annotations

from typing import Any

import pytest

from shared.language.issues import Issue
from shared.language.library import Library
from shared.language.template_analysis import TemplateCategory
from shared.language.template_render import TemplateRenderFault, render_template
from shared.runtime.operator_call import OperatorCall, Produced
from shared.runtime.operator_prompts import render_operator_templates
from shared.runtime.run_failure import PipeRunError
from shared.runtime.stuff import Stuff
from shared.runtime.template_views import TemplateViews
from tests.helpers.methods import library_of, report_of, run_text

RENDER_FAILED = "pipe.template_render_failed"

CONCEPTS = """domain = "support"
description = "Support tickets"

[concept.Author]
description = "Who wrote it"
[concept.Author.structure]
name = "The author's name"

[concept.Ticket]
description = "A support ticket"
[concept.Ticket.structure]
title = "The title"
body = "The body"
author = { type = "concept", concept_ref = "Author", description = "Who wrote it" }
replies = { type = "list", item_type = "concept", item_concept_ref = "Author", description = "Who replied" }
labels = { type = "dict", key_type = "text", value_type = "text", description = "Free labels" }
note = { type = "text", description = "An optional note" }

[concept.UrgentTicket]
description = "A ticket that cannot wait"
refines = "Ticket"

[concept.Question]
description = "A question, no structure"
"""


def compose(template: str, inputs: str = 'ticket = "Ticket"') -> str:
    return f'''{CONCEPTS}
[pipe.answer]
type = "PipeCompose"
description = "Answers"
inputs = {{ {inputs} }}
output = "Text"
template = """{template}"""
'''


def warnings_of(text: str) -> list[Issue]:
    report = report_of(text)
    assert report.is_valid, [issue.message for issue in report.issues]
    return list(report.warnings)


def test_a_misspelled_field_is_a_warning_naming_pipe_field_concept_and_suggestion() -> None:
    text = compose("Re: {{ ticket.titel }}")
    report = report_of(text)
    assert report.is_valid
    assert not report.issues
    (warning,) = report.warnings
    item = warning.to_problem_item()
    assert item["code"] == "method.field_path_unresolved"
    assert item["params"]["pipe"] == "answer"
    assert item["params"]["field"] == "titel"
    assert item["params"]["path"] == "ticket.titel"
    assert item["params"]["concept"] == "support.Ticket"
    assert item["suggestions"] == ["title"]
    assert item["location"] == {"file": "bundle.mthds", "pipe": "answer", "field": "template"}
    assert "did you mean 'title'?" in item["detail"]
    assert "error_type" not in item


def test_a_field_far_from_every_declared_one_lists_the_fields_instead() -> None:
    (warning,) = warnings_of(compose("{{ ticket.priority }}"))
    assert warning.suggestions == ()
    assert "its fields: author, body, labels, note, replies, title" in warning.message


@pytest.mark.parametrize(
    ("template", "paths"),
    [
        ("{{ ticket.author.nmae }}", ["ticket.author.nmae"]),
        ("{% for r in ticket.replies %}{{ r.nam }}{% endfor %}", ["r.nam"]),
        (
            "{{ ticket.replies[0].nam }} {{ (ticket.replies|first).nme }}",
            ["ticket.replies[0].nam", "(…).nme"],
        ),
        ("{% set t = ticket.author %}{{ t.nmae }}", ["t.nmae"]),
        ("{% if ticket.bdy %}x{% endif %}{{ ticket['titel'] }}", ["ticket.bdy", "ticket['titel']"]),
        ("About $ticket.titel, by $ticket.author.nmae.", ["ticket.titel", "ticket.author.nmae"]),
    ],
)
def test_nested_looped_aliased_and_sigil_reads_are_judged(template: str, paths: list[str]) -> None:
    assert [warning.params["path"] for warning in warnings_of(compose(template))] == paths


def test_list_inputs_are_judged_item_by_item() -> None:
    text = compose("{% for t in tickets %}{{ t.bdy }}{% endfor %}", 'tickets = "Ticket[]"')
    assert [warning.params["path"] for warning in warnings_of(text)] == ["t.bdy"]


@pytest.mark.parametrize(
    ("template", "inputs"),
    [
        ("{{ ticket.title }} {{ ticket.body|upper }} {{ ticket.title.upper() }} {{ ticket.note }}", ""),
        ("{{ ticket.author.name }} {% for r in ticket.replies %}{{ r.name }}{% endfor %}", ""),
        ("{{ ticket.labels.anything }} {% for k, v in ticket.author.items() %}{{ k }}{% endfor %}", ""),
        ("{{ ticket._stuff_name }} {{ ticket._concept_code }}", ""),
        ("{{ ticket.zzz is defined }} {{ ticket.yyy|default('none') }} {{ ticket.www is not defined }}", ""),
        ("{{ ticket.title }}{% for ticket in [{'real': 1}] %}{{ ticket.real }}{% endfor %}", ""),
        ("{% macro show(ticket) %}{{ ticket.anything }}{% endmacro %}{{ show(ticket) }}", ""),
        (
            "{{ name.text }} {{ picture.url }} {{ picture.caption }} {{ page.text_and_images.text.text }}",
            'name = "Text", picture = "Image", page = "Page"',
        ),
        ("{{ urgent.title }} {{ urgent.author.name }}", 'urgent = "UrgentTicket"'),
        ("{{ question.whatever }} {{ question.text }}", 'question = "Question"'),
        ("{{ data.whatever }}", 'data = "Dynamic"'),
        ("{{ data.whatever }}", 'data = "Anything"'),
        ("{{ data.json_obj.whatever }}", 'data = "JSON"'),
        ("{{ tickets.whatever }} {{ tickets|length }}", 'tickets = "Ticket[]"'),
    ],
)
def test_legitimate_reads_are_never_warned(template: str, inputs: str) -> None:
    assert warnings_of(compose(template, inputs or 'ticket = "Ticket"')) == []


def test_fields_of_a_refined_concept_are_its_parents() -> None:
    (warning,) = warnings_of(compose("{{ urgent.titel }}", 'urgent = "UrgentTicket"'))
    assert warning.concept == "support.UrgentTicket"
    assert warning.suggestions == ("title",)


def test_native_fields_are_known() -> None:
    (warning,) = warnings_of(compose("{{ name.txt }}", 'name = "Text"'))
    assert (warning.params["field"], warning.concept, warning.suggestions) == (
        "txt",
        "native.Text",
        ("text",),
    )


def test_prompts_and_system_prompts_of_a_pipe_llm_are_judged() -> None:
    text = f"""{CONCEPTS}
[pipe.reply]
type = "PipeLLM"
description = "Replies"
inputs = {{ ticket = "Ticket" }}
output = "Text"
system_prompt = "You answer {{{{ ticket.author.nmae }}}}."
prompt = "Answer: {{{{ ticket.bdy }}}}"
"""
    warnings = warnings_of(text)
    assert [(warning.field, warning.params["path"]) for warning in warnings] == [
        ("prompt", "ticket.bdy"),
        ("system_prompt", "ticket.author.nmae"),
    ]


def test_construct_templates_and_condition_expressions_are_judged() -> None:
    text = f"""{CONCEPTS}
[pipe.route]
type = "PipeCondition"
description = "Routes"
inputs = {{ ticket = "Ticket" }}
output = "Author"
expression = "'a' if ticket.titel else 'a'"
outcomes = {{ a = "wrap" }}
default_outcome = "wrap"

[pipe.wrap]
type = "PipeCompose"
description = "Wraps"
inputs = {{ ticket = "Ticket" }}
output = "Author"
[pipe.wrap.construct]
name = {{ template = "{{{{ ticket.author.nmae }}}}" }}
"""
    warnings = warnings_of(text)
    assert {(warning.pipe, warning.field, warning.params["path"]) for warning in warnings} == {
        ("route", "expression", "ticket.titel"),
        ("wrap", "construct.name", "ticket.author.nmae"),
    }


# Run time: the same reads fail the render instead of printing nothing.

TICKET = {
    "title": "Printer on fire",
    "body": "Smoke",
    "author": {"name": "Ada"},
    "replies": [{"name": "Bo"}],
    "labels": {"team": "ops"},
    "note": None,
}


def render(library: Library, template: str, *, strict: bool = True) -> str:
    views = TemplateViews(library, strict_fields=strict)
    stuffs = [
        Stuff("ticket", "c1", "support.Ticket", TICKET),
        Stuff("tickets", "c2", "support.Ticket", {"items": [TICKET]}, is_list=True),
        Stuff("name", "c3", "native.Text", {"text": "Ada"}),
    ]
    return render_template(template, TemplateCategory.BASIC, views.variables(stuffs))


@pytest.fixture(scope="module")
def library() -> Library:
    return library_of(compose("{{ ticket.title }}"))


@pytest.mark.parametrize(
    ("template", "field", "concept"),
    [
        ("{{ ticket.titel }}", "titel", "support.Ticket"),
        ("{{ ticket.author.nmae }}", "nmae", "support.Author"),
        ("{% for t in tickets %}{{ t.bdy }}{% endfor %}", "bdy", "support.Ticket"),
        ("{% for r in ticket.replies %}{{ r.nam }}{% endfor %}", "nam", "support.Author"),
        ("{% if ticket.titel %}x{% endif %}", "titel", "support.Ticket"),
        ("{{ ticket['titel'] }}", "titel", "support.Ticket"),
        ("{{ name.txt }}", "txt", "native.Text"),
    ],
)
def test_rendering_an_undeclared_field_fails_naming_it(
    library: Library, template: str, field: str, concept: str
) -> None:
    with pytest.raises(TemplateRenderFault) as caught:
        render(library, template)
    assert caught.value.code == RENDER_FAILED
    assert f"'{field}'" in caught.value.message
    assert caught.value.params == {"field": field, "concept": concept}


def test_declared_fields_render_as_before(library: Library) -> None:
    template = (
        "{{ ticket.title }}|{{ ticket.author.name }}|{{ ticket.note }}|{{ ticket.labels.team }}|"
        "{{ ticket.labels.missing }}|{{ ticket.zzz is defined }}|{{ ticket.yyy|default('-') }}|"
        "{% for k, v in ticket.author.items() %}{{ k }}={{ v }}{% endfor %}|{{ ticket.author|tojson }}|"
        "{{ name.text }}|{{ tickets|length }}|{{ ticket._stuff_name }}"
    )
    expected = 'Printer on fire|Ada|None|ops||False|-|name=Ada|{"name": "Ada"}|Ada|1|ticket'
    assert render(library, template) == expected
    assert render(library, template, strict=False) == expected
    assert render(library, "{{ ticket.author }}") == render(library, "{{ ticket.author }}", strict=False)


def test_without_strict_fields_an_undeclared_field_renders_nothing(library: Library) -> None:
    assert render(library, "[{{ ticket.titel }}]", strict=False) == "[]"


async def test_a_run_fails_naming_the_pipe_and_the_field_and_its_dry_run_does_not() -> None:
    text = compose("Re: {{ ticket.titel }}")
    inputs = {"ticket": {"concept": "support.Ticket", "content": TICKET}}
    dry = await run_text(text, "support.answer", inputs, dry_run=True)
    assert dry.main is not None
    with pytest.raises(PipeRunError) as caught:
        await run_text(text, "support.answer", inputs)
    failure = caught.value
    assert (failure.code, failure.pipe) == (RENDER_FAILED, "answer")
    assert "'titel'" in failure.message
    assert "did you mean 'title'?" in failure.message
    assert failure.problem()["params"] == {"field": "titel", "concept": "support.Ticket", "pipe": "answer"}


class _PromptEcho:
    """An executor that renders the pipe's prompts for real (strict fields) and answers the prompt."""

    def __init__(self, library: Library) -> None:
        self.views = TemplateViews(library)

    async def run_operator(self, call: OperatorCall) -> Produced:
        return Produced({"text": render_operator_templates(call, self.views)["prompt"]})


async def test_a_pipe_llm_prompt_reading_an_undeclared_field_fails_the_run() -> None:
    text = f"""{CONCEPTS}
[pipe.reply]
type = "PipeLLM"
description = "Replies"
inputs = {{ ticket = "Ticket" }}
output = "Text"
prompt = "Answer {{{{ ticket.author.nmae }}}}"
"""
    inputs: dict[str, Any] = {"ticket": {"concept": "support.Ticket", "content": TICKET}}
    executor = _PromptEcho(library_of(text))
    with pytest.raises(PipeRunError) as caught:
        await run_text(text, "support.reply", inputs, executor=executor)
    assert (caught.value.code, caught.value.pipe) == (RENDER_FAILED, "reply")
    assert caught.value.params["field"] == "nmae"
    good = text.replace("nmae", "name")
    outcome = await run_text(good, "support.reply", inputs, executor=_PromptEcho(library_of(good)))
    assert outcome.main is not None
