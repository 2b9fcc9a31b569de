"""PipeLLM runs for real: the API and a worker on Temporal, a custom model deck, and the OpenAI SDK
talking to the fake OpenAI-compatible server on loopback (text, structured, list outputs, typed faults).
"""

from __future__ import annotations

import json
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any

from shared.runtime.run_failure import PipeRunError
from tests.helpers.api_server import assert_problem
from tests.helpers.model_servers.model_server import Fault, ModelServer
from tests.helpers.model_stack import main_content, model_stack
from tests.helpers.run_stack import RunStack
from worker.activities.operators import as_application_error

KEY = "sk-test-llm-runs"
CHAT = "/v1/chat/completions"
DECK = """
[models.test-llm]
type = "llm"
provider = "openai"
model = "test-model"

[aliases.llm]
test-alias = "test-llm"
default-general = "test-llm"
"""

BUNDLE = """domain = "llm_runs"

[concept.Hours]
description = "Opening hours"

[concept.Hours.structure]
shop = { type = "text", description = "Shop", required = true }
days = { type = "integer", description = "Days open a week", required = true }

[pipe.greet]
type = "PipeLLM"
description = "Greets"
inputs = { name = "Text" }
output = "Text"
model = "@test-alias"
system_prompt = "You greet people."
prompt = "Say hello to {{ name }}."

[pipe.hours]
type = "PipeLLM"
description = "Reads opening hours"
inputs = { name = "Text" }
output = "Hours"
model = "test-llm"
prompt = "Opening hours of {{ name }}."

[pipe.ideas]
type = "PipeLLM"
description = "Lists ideas"
inputs = { name = "Text" }
output = "Text[]"
prompt = "Ideas for {{ name }}."
"""


def llm_stack(
    temporal_address: str, tmp_path: Path, server: ModelServer, *, key: str | None = KEY
) -> AbstractAsyncContextManager[RunStack]:
    # One attempt: the retryable faults below end the run at once instead of after backoffs.
    return model_stack(
        temporal_address,
        tmp_path,
        [server],
        deck=DECK,
        keys={"openai": key},
        pipe_activity_max_attempts=1,
    )


def execute(pipe: str, run_id: str) -> dict[str, Any]:
    return {
        "mthds_contents": [BUNDLE],
        "pipe_code": pipe,
        "inputs": {"name": "Ada"},
        "pipeline_run_id": run_id,
    }


async def test_text_structured_and_list_outputs(temporal_address: str, tmp_path: Path) -> None:
    server = ModelServer("openai", api_key=KEY, answer="Hello, Ada! Nice to meet you.")
    async with llm_stack(temporal_address, tmp_path, server) as stack:
        text = await stack.client.post("/v1/execute", json=execute("greet", "run-llm-text"))
        assert text.status_code == 200, text.text
        assert main_content(text.json()) == {"text": "Hello, Ada! Nice to meet you."}
        sent = server.requests(CHAT)[-1].body
        assert sent["model"] == "test-model"
        assert sent["messages"] == [
            {"role": "system", "content": "You greet people."},
            {"role": "user", "content": "Say hello to Ada."},
        ]
        assert "response_format" not in sent

        structured = await stack.client.post("/v1/execute", json=execute("hours", "run-llm-object"))
        assert structured.status_code == 200, structured.text
        assert main_content(structured.json()) == {"shop": "text", "days": 0}
        schema = server.requests(CHAT)[-1].body["response_format"]["json_schema"]["schema"]
        assert schema["required"] == ["shop", "days"]
        assert schema["properties"]["days"]["type"] == "integer"

        listed = await stack.client.post("/v1/execute", json=execute("ideas", "run-llm-list"))
        assert listed.status_code == 200, listed.text
        assert main_content(listed.json()) == {"items": [{"text": "text"}]}
        sent = server.requests(CHAT)[-1].body
        assert sent["model"] == "test-model"  # the deck's `@default-general`, as no model is named
        list_schema = sent["response_format"]["json_schema"]["schema"]
        assert list_schema["properties"]["items"]["type"] == "array"
        assert len(server.requests(CHAT)) == 3


async def test_refused_key_fails_once_without_retry(temporal_address: str, tmp_path: Path) -> None:
    server = ModelServer("openai", api_key="sk-the-right-one")
    async with llm_stack(temporal_address, tmp_path, server) as stack:
        response = await stack.client.post("/v1/execute", json=execute("greet", "run-llm-401"))
        problem = assert_problem(response, 502, "provider.credential_refused")
        assert problem["location"]["pipe"] == "greet"
        assert KEY not in response.text
    assert len(server.requests(CHAT)) == 1


async def test_invalid_json_twice_is_a_schema_mismatch(temporal_address: str, tmp_path: Path) -> None:
    server = ModelServer("openai", api_key=KEY)
    server.script(Fault(text="not json", times=2))
    async with llm_stack(temporal_address, tmp_path, server) as stack:
        response = await stack.client.post("/v1/execute", json=execute("hours", "run-llm-mismatch"))
        problem = assert_problem(response, 502, "model.output_schema_mismatch")
        assert problem["location"]["pipe"] == "hours"
    first, repair = server.requests(CHAT)  # one answer and one repair round, no more
    assert server.pending_faults == []
    first_prompt = first.body["messages"][-1]["content"]
    repair_prompt = repair.body["messages"][-1]["content"]
    assert first_prompt == "Opening hours of Ada."
    assert repair_prompt.startswith(first_prompt)
    assert "not JSON" in repair_prompt


async def test_a_repaired_answer_is_accepted(temporal_address: str, tmp_path: Path) -> None:
    server = ModelServer("openai", api_key=KEY)
    server.script(Fault(text=json.dumps({"shop": "Bakery"}), times=1))  # `days` is missing
    async with llm_stack(temporal_address, tmp_path, server) as stack:
        response = await stack.client.post("/v1/execute", json=execute("hours", "run-llm-repair"))
        assert response.status_code == 200, response.text
        assert main_content(response.json()) == {"shop": "text", "days": 0}
    assert len(server.requests(CHAT)) == 2
    assert "days" in server.requests(CHAT)[1].body["messages"][-1]["content"]


async def test_no_key_is_model_unavailable(temporal_address: str, tmp_path: Path) -> None:
    server = ModelServer("openai", api_key=KEY)
    async with llm_stack(temporal_address, tmp_path, server, key=None) as stack:
        response = await stack.client.post("/v1/execute", json=execute("greet", "run-llm-nokey"))
        problem = assert_problem(response, 501, "model.unavailable")
        assert "OPENAI_API_KEY" in problem["detail"]
    assert server.requests() == []


def test_a_provider_retry_after_sets_the_next_attempt_delay() -> None:
    limited = PipeRunError("provider.rate_limited", "slow down", retryable=True, params={"retry_after": 7.0})
    assert as_application_error(limited).next_retry_delay == timedelta(seconds=7)
    assert not as_application_error(limited).non_retryable
    assert (
        as_application_error(PipeRunError("provider.unavailable", "down", retryable=True)).next_retry_delay
        is None
    )
