"""Template injection in PipeCompose templates and PipeLLM prompts, over real HTTP: sandbox escapes,
attribute walking, huge loops and values, deep recursion (mthds.md §8).

What the validator can see, it refuses with a typed item naming the pipe; what only an input reveals,
the run refuses at render time, before any provider is called. Quickly: each test has a timeout.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.api_server import asgi_client, assert_problem
from tests.helpers.run_stack import RunStack, run_stack

PIPE = "evil"
# Escapes and attribute walks: refused by the static reading of the template.
ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ joiner.__init__.__globals__.os }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ range.__self__ }}",
    "{{ self.__init__.__globals__ }}",
    "{{ name.__class__ }}",
    "{{ name.text.__class__.__base__.__subclasses__() }}",
    "{{ name['__class__'] }}",
    "{{ config.__class__ }}",
    "{{ request }}",
]
# Budgets and dynamic attribute reads: refused by the dry run the validator renders.
BUDGETS = [
    "{% for i in range(10**9) %}x{% endfor %}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{{ 'a' * 10**9 }}",
    "{{ [1, 2] * 10**8 }}",
    "{{ 2 ** 100000 }}",
    "{{ 'a'|center(10**9) }}",
    "{{ 'a'.zfill(10**9) }}",
    "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
    "{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ m(0) }}",
    "{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}",
    "{{ name|attr('__cl' ~ 'ass__') }}",
    "{{ '{0.__class__}'.format(name) }}",
    "{{ '%s' * 10**8 % () }}",
    "{% if true %}" * 3000 + "{% endif %}" * 3000,
]
# Fine for the dry run's placeholder input; the input `boom` turns each into an attack at run time.
TRIGGERED = [
    ("{% if name.text == 'boom' %}{{ name.text * 10**9 }}{% endif %}", "pipe.template_budget_exceeded"),
    (
        "{% if name.text == 'boom' %}{{ name|attr('__cl' ~ 'ass__') }}{% endif %}",
        "pipe.template_render_failed",
    ),
    (
        "{% if name.text == 'boom' %}{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}"
        "{% endfor %}{% endif %}",
        "pipe.template_budget_exceeded",
    ),
]
TYPED_CODES = {
    "method.template_private_name",
    "method.input_undeclared",
    "method.schema_violation",
    "pipe.template_render_failed",
    "pipe.template_budget_exceeded",
}


def bundle(template: str, *, llm: bool) -> str:
    """One pipe reading `name`, with `template` as its PipeCompose template or its PipeLLM prompt."""
    body = f"{{{{ name.text }}}} {template}"
    kind = 'type = "PipeLLM"\nprompt' if llm else 'type = "PipeCompose"\ntemplate'
    return (
        f'domain = "injection"\nmain_pipe = "{PIPE}"\n\n[pipe.{PIPE}]\n{kind} = {json.dumps(body)}\n'
        'description = "Tries to escape"\ninputs = { name = "Text" }\noutput = "Text"\n'
    )


def _assert_refused_naming_the_pipe(verdict: dict[str, Any], template: str) -> None:
    assert verdict["is_valid"] is False, template
    errors = verdict["errors"]
    assert {error["code"] for error in errors} <= TYPED_CODES, (template, errors)
    assert all(error["params"]["pipe"] == PIPE for error in errors), (template, errors)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("llm", [False, True], ids=["compose-template", "llm-prompt"])
async def test_escapes_and_budget_busters_are_refused_by_the_validator(llm: bool) -> None:
    async with asgi_client() as client:
        for template in [*ESCAPES, *BUDGETS]:
            response = await client.post("/v1/validate", json={"mthds_contents": [bundle(template, llm=llm)]})
            assert response.status_code == 200, response.text
            _assert_refused_naming_the_pipe(response.json(), template)


@pytest.fixture
async def stack(temporal_address: str, tmp_path: Path) -> AsyncGenerator[RunStack]:
    async with run_stack(temporal_address, tmp_path) as running:
        yield running


@pytest.mark.timeout(60)
async def test_starting_a_refused_template_starts_nothing(stack: RunStack) -> None:
    for template in (ESCAPES[0], BUDGETS[0], BUDGETS[2]):
        run_id = f"inject-{uuid.uuid4()}"
        body = {
            "mthds_contents": [bundle(template, llm=False)],
            "inputs": {"name": "Ada"},
            "pipeline_run_id": run_id,
        }
        refused = assert_problem(await stack.client.post("/v1/start", json=body), 422, "method.invalid")
        assert {error["params"]["pipe"] for error in refused["errors"]} == {PIPE}
        assert_problem(await stack.client.get(f"/v1/runs/{run_id}"), 404, "run.not_found")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("llm", [False, True], ids=["compose-template", "llm-prompt"])
async def test_an_input_that_triggers_an_attack_fails_the_run_at_render_time(
    stack: RunStack, llm: bool
) -> None:
    for template, code in TRIGGERED:
        text = bundle(template, llm=llm)
        verdict = await stack.client.post("/v1/validate", json={"mthds_contents": [text]})
        assert verdict.json()["is_valid"] is True, verdict.text  # nothing to see without the input
        run_id = f"inject-{uuid.uuid4()}"
        body = {"mthds_contents": [text], "inputs": {"name": "boom"}, "pipeline_run_id": run_id}
        started = await stack.client.post("/v1/start", json=body)
        assert started.status_code == 202, started.text
        final = await stack.wait_for_end(run_id)
        assert final["state"] == "FAILED", final
        assert final["error"]["code"] == code, final["error"]
        assert final["error"]["params"] == {"pipe": PIPE}, final["error"]
        assert final["error"]["location"]["pipe"] == PIPE
