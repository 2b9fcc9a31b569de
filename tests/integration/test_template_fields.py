"""A template reading a field its concept does not declare: `/v1/validate` warns, a run fails naming the field.

Real validator through the real app; the run goes through the API, Temporal and a worker.
"""

from __future__ import annotations

from pathlib import Path

from tests.helpers.api_server import asgi_client, assert_problem
from tests.helpers.run_stack import run_stack

TICKETS = """domain = "support"
description = "Support tickets"
main_pipe = "acknowledge"

[concept.Ticket]
description = "A support ticket"
[concept.Ticket.structure]
title = "The title"
body = "The body"

[pipe.acknowledge]
type = "PipeCompose"
description = "Acknowledges a ticket"
inputs = { ticket = "Ticket" }
output = "Text"
template = "We received your ticket '{{ ticket.titel }}'."
"""

TICKET_INPUT = {
    "ticket": {"concept": "support.Ticket", "content": {"title": "Printer on fire", "body": "Smoke"}}
}


async def test_validate_keeps_the_verdict_and_warns_about_the_field() -> None:
    async with asgi_client() as client:
        response = await client.post("/v1/validate", json={"mthds_contents": [TICKETS]})
    assert response.status_code == 200, response.text
    verdict = response.json()
    assert verdict["is_valid"] is True
    assert verdict["is_runnable"] is True
    (warning,) = verdict["warnings"]
    assert warning["code"] == "method.field_path_unresolved"
    assert warning["params"]["pipe"] == "acknowledge"
    assert warning["params"]["field"] == "titel"
    assert warning["params"]["concept"] == "support.Ticket"
    assert warning["suggestions"] == ["title"]
    assert warning["location"]["pipe"] == "acknowledge"
    assert "did you mean 'title'?" in warning["detail"]

    fixed = TICKETS.replace("titel", "title")
    async with asgi_client() as client:
        response = await client.post("/v1/validate", json={"mthds_contents": [fixed]})
    assert response.json()["warnings"] == []


async def test_a_run_reading_the_field_fails_naming_it(temporal_address: str, tmp_path: Path) -> None:
    async with run_stack(temporal_address, tmp_path) as stack:
        body = {"mthds_contents": [TICKETS], "inputs": TICKET_INPUT, "pipeline_run_id": "run-titel"}
        response = await stack.client.post("/v1/execute", json=body)
        problem = assert_problem(response, 422, "pipe.template_render_failed")
        assert problem["location"]["pipe"] == "acknowledge"
        assert problem["params"]["field"] == "titel"
        assert "'titel'" in problem["detail"]
        assert "did you mean 'title'?" in problem["detail"]

        fixed = {
            **body,
            "mthds_contents": [TICKETS.replace("titel", "title")],
            "pipeline_run_id": "run-title",
        }
        response = await stack.client.post("/v1/execute", json=fixed)
        assert response.status_code == 200, response.text
        done = response.json()
        main = done["pipe_output"]["working_memory"]["root"][done["main_stuff_name"]]
        assert main["content"] == {"text": "We received your ticket 'Printer on fire'."}
