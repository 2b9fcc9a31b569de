"""One model deck for validation and runs (issue 13): README's own deck as `MODEL_DECK`, the API and a worker
on Temporal, the OpenAI SDK talking to the loopback OpenAI-compatible server.

A pipe without `model` validates and runs on the built-in defaults the README deck is laid over; a model
the deck cannot serve is refused by `/v1/validate`, `/v1/execute` and `/v1/start` alike, before any run.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from tests.helpers.api_server import assert_problem
from tests.helpers.model_servers.model_server import ModelServer
from tests.helpers.model_stack import main_content, model_stack
from tests.helpers.readme_deck import readme_deck
from tests.helpers.run_stack import RunStack
from worker.temporal_connection import connect

KEY = "sk-test-one-deck"
CHAT = "/v1/chat/completions"

BUNDLE = """domain = "one_deck"

[concept.Hours]
description = "Opening hours"

[concept.Hours.structure]
shop = { type = "text", description = "Shop", required = true }
days = { type = "integer", description = "Days open a week", required = true }

[pipe.hours]
type = "PipeLLM"
description = "Reads opening hours, on the deck's default structured model"
inputs = { name = "Text" }
output = "Hours"
prompt = "Opening hours of {{ name }}."

[pipe.greet]
type = "PipeLLM"
description = "Greets, on the README deck's own model"
inputs = { name = "Text" }
output = "Text"
model = "writer"
prompt = "Say hello to {{ name }}."
"""

UNSERVED = """domain = "one_deck_unserved"

[pipe.greet]
type = "PipeLLM"
description = "Greets on a model the deck does not have"
inputs = { name = "Text" }
output = "Text"
model = "@house-writer"
prompt = "Say hello to {{ name }}."
"""


def readme_stack(
    temporal_address: str, tmp_path: Path, server: ModelServer
) -> AbstractAsyncContextManager[RunStack]:
    return model_stack(
        temporal_address,
        tmp_path,
        [server],
        deck=readme_deck(),
        keys={"openai": KEY},
        pipe_activity_max_attempts=1,
    )


def request(bundle: str, pipe: str) -> dict[str, Any]:
    return {"mthds_contents": [bundle], "pipe_code": pipe, "inputs": {"name": "Ada"}}


async def test_the_readme_deck_runs_a_structured_pipe_without_model(
    temporal_address: str, tmp_path: Path
) -> None:
    server = ModelServer("openai", api_key=KEY, answer="Hello, Ada!")
    async with readme_stack(temporal_address, tmp_path, server) as stack:
        verdict = await stack.client.post("/v1/validate", json={"mthds_contents": [BUNDLE]})
        assert verdict.status_code == 200, verdict.text
        assert verdict.json()["is_valid"] is True, verdict.text

        structured = await stack.client.post("/v1/execute", json=request(BUNDLE, "hours"))
        assert structured.status_code == 200, structured.text
        assert main_content(structured.json()) == {"shop": "text", "days": 0}
        sent = server.requests(CHAT)[-1].body
        # The built-in `@default-structured` (which follows `@default-general`) under README's deck.
        assert sent["model"] == "gpt-4o"
        assert sent["response_format"]["json_schema"]["schema"]["required"] == ["shop", "days"]
        [usage] = structured.json()["pipe_output"]["tokens_usages"]
        assert usage["inference_model_name"] == "gpt-4o"

        text = await stack.client.post("/v1/execute", json=request(BUNDLE, "greet"))
        assert text.status_code == 200, text.text
        assert main_content(text.json()) == {"text": "Hello, Ada!"}
        sent = server.requests(CHAT)[-1].body
        assert (sent["model"], sent["top_p"]) == ("gpt-4o", 0.9)  # README's `writer` and its settings
        [usage] = text.json()["pipe_output"]["tokens_usages"]
        assert usage["inference_model_name"] == "writer"
        assert usage["cost"] is not None  # priced from README's `costs`


async def _workflows_on(temporal_address: str, task_queue: str) -> list[str]:
    client = await connect(temporal_address)
    return [execution.id async for execution in client.list_workflows(f'TaskQueue = "{task_queue}"')]


async def test_a_model_the_deck_cannot_serve_is_refused_before_any_run(
    temporal_address: str, tmp_path: Path
) -> None:
    server = ModelServer("openai", api_key=KEY, answer="Hello, Ada!")
    async with readme_stack(temporal_address, tmp_path, server) as stack:
        verdict = await stack.client.post("/v1/validate", json={"mthds_contents": [UNSERVED]})
        assert verdict.status_code == 200, verdict.text
        body = verdict.json()
        assert body["is_valid"] is False
        [error] = body["errors"]
        assert error["code"] == "model.unknown"
        assert "@house-writer" in error["detail"]

        for route in ("/v1/execute", "/v1/start"):
            refused = await stack.client.post(route, json=request(UNSERVED, "greet"))
            problem = assert_problem(refused, 422, "method.invalid")
            assert "pipeline_run_id" not in problem, problem
            assert "@house-writer" in refused.text

        # A run the deck serves, to know the task queue's listing has caught up: it is the only workflow.
        served = await stack.client.post("/v1/execute", json=request(BUNDLE, "greet"))
        assert served.status_code == 200, served.text
        listed = await _workflows_on(temporal_address, stack.task_queue)
        while not listed:  # visibility is eventually consistent; the pytest timeout bounds this wait
            await asyncio.sleep(0.05)
            listed = await _workflows_on(temporal_address, stack.task_queue)
        assert len(listed) == 1, listed
    assert len(server.requests(CHAT)) == 1
