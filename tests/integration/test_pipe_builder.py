"""The Pipe Builder for real: `/v1/build/pipeline` runs the builder's own method on Temporal, its model
calls answered by the OpenAI-compatible test server scripted with drafts (issue 16)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.api_server import assert_problem
from tests.helpers.model_servers.model_server import Fault, ModelServer
from tests.helpers.model_stack import main_content, model_stack
from tests.helpers.run_stack import RunStack

CHAT = "/v1/chat/completions"
DECK = """
[models.test-llm]
type = "llm"
provider = "openai"
model = "test-model"
"""

# A draft with a deliberate fault: its output concept is misspelt.
BROKEN_DRAFT = """Here is the bundle:

```toml
domain = "greetings"
description = "Greets a guest"
main_pipe = "greet"

[pipe.greet]
type = "PipeLLM"
description = "Write a greeting"
inputs = { name = "Text" }
output = "Greting"
model = "test-llm"
prompt = "Write a one-line greeting for {{ name }}."
```
"""
GOOD_DRAFT = BROKEN_DRAFT.replace('output = "Greting"', 'output = "Text"')
PROSE = "I am sorry, I would rather not write a pipeline today."


@asynccontextmanager
async def builder_stack(
    tmp_path: Path, temporal_address: str, server: ModelServer
) -> AsyncGenerator[RunStack]:
    async with model_stack(
        temporal_address,
        tmp_path,
        [server],
        deck=DECK,
        keys={"openai": "sk-builder"},
        api_overrides={"builder_model": "test-llm"},
        pipe_activity_max_attempts=1,
    ) as stack:
        yield stack


def _prompt_texts(server: ModelServer) -> list[str]:
    return [json.dumps(item.body["messages"]) for item in server.requests(CHAT)]


@pytest.mark.timeout(180)
async def test_a_broken_draft_is_repaired_with_the_validators_message_then_runs(
    tmp_path: Path, temporal_address: str
) -> None:
    server = ModelServer()
    server.script(Fault(path=CHAT, text=BROKEN_DRAFT), Fault(path=CHAT, text=GOOD_DRAFT))
    async with builder_stack(tmp_path, temporal_address, server) as stack:
        response = await stack.client.post("/v1/build/pipeline", json={"brief": "Greet a guest by name."})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert body["is_valid"] is True
        assert body["pipe_ref"] == "greetings.greet"
        assert body["attempts"] == 2
        assert [repair["attempt"] for repair in body["repairs"]] == [1]
        faults = body["repairs"][0]["errors"]
        assert [fault["code"] for fault in faults] == ["method.concept_unresolved"]
        assert "Greting" in faults[0]["detail"]
        # The repair prompt held the bundle and the validator's own message.
        prompts = _prompt_texts(server)
        assert len(prompts) == 2
        assert json.dumps(faults[0]["detail"])[1:-1] in prompts[1]
        assert "Greting" in prompts[1]
        assert body["usage"]["model_calls"] == 2
        assert body["usage"]["tokens"]["input"] > 0
        assert body["mthds_content"] == body["files"]["bundle.mthds"]
        assert 'output = "Text"' in body["mthds_content"]
        assert set(body["pipe_io_contracts"]) == {"greetings.greet"}
        assert body["inputs"] == {"name": {"concept": "native.Text", "content": {"text": "text_value"}}}
        assert body["message"] == "Pipeline generated and validated"

        # The bundle it built runs, its model step answered by the same test server.
        run = await stack.client.post(
            "/v1/execute",
            json={"mthds_content": body["mthds_content"], "inputs": {"name": "Ada"}},
        )
        assert run.status_code == 200, run.text
        assert main_content(run.json()) == {"text": server.answer}


@pytest.mark.timeout(180)
async def test_repairs_end_after_max_repairs_with_the_last_faults(
    tmp_path: Path, temporal_address: str
) -> None:
    server = ModelServer()
    server.script(Fault(path=CHAT, text=BROKEN_DRAFT, times=10))
    async with builder_stack(tmp_path, temporal_address, server) as stack:
        response = await stack.client.post(
            "/v1/build/pipeline", json={"brief": "Greet a guest by name.", "max_repairs": 2}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["is_valid"] is False
        assert body["attempts"] == 3
        assert [repair["attempt"] for repair in body["repairs"]] == [1, 2]
        assert [fault["code"] for fault in body["errors"]] == ["method.concept_unresolved"]
        assert "Greting" in body["mthds_content"]
        assert "pipe_ref" not in body
        assert len(server.requests(CHAT)) == 3  # never more calls than rounds
        assert body["usage"]["model_calls"] == 3


@pytest.mark.timeout(180)
async def test_an_answer_with_no_toml_fails_typed_after_its_rounds(
    tmp_path: Path, temporal_address: str
) -> None:
    server = ModelServer()
    server.script(Fault(path=CHAT, text=PROSE, times=10))
    async with builder_stack(tmp_path, temporal_address, server) as stack:
        response = await stack.client.post(
            "/v1/build/pipeline", json={"brief": "Greet a guest by name.", "max_repairs": 1}
        )
        problem = assert_problem(response, 502, "build.no_bundle")
        assert problem["location"]["pipe"] == "check_repair"
        # The second round was asked to answer with a bundle.
        prompts = _prompt_texts(server)
        assert len(prompts) == 2
        assert "build.no_bundle" in prompts[1]


@pytest.mark.timeout(180)
async def test_an_async_build_is_a_run_whose_steps_show(tmp_path: Path, temporal_address: str) -> None:
    server = ModelServer()
    server.script(Fault(path=CHAT, text=GOOD_DRAFT))
    async with builder_stack(tmp_path, temporal_address, server) as stack:
        response = await stack.client.post(
            "/v1/build/pipeline", json={"brief": "Greet a guest by name.", "async": True}
        )
        assert response.status_code == 202, response.text
        run_id = response.json()["pipeline_run_id"]
        status = await stack.wait_for_end(run_id, within=60)
        assert status["state"] == "COMPLETED"
        progress = (await stack.client.get(f"/v1/runs/{run_id}/progress")).json()
        pipes = json.dumps(progress)
        for step in ("build_pipeline", "write_draft", "check_first_draft", "keep_draft"):
            assert step in pipes
        results = (await stack.client.get(f"/v1/runs/{run_id}/results")).json()
        assert '"is_valid": true' in json.dumps(results)


async def test_bad_build_requests_are_refused_before_any_run(tmp_path: Path, temporal_address: str) -> None:
    server = ModelServer()
    async with builder_stack(tmp_path, temporal_address, server) as stack:
        since = datetime.now(UTC).isoformat()
        post = stack.client.post
        problem = assert_problem(
            await post("/v1/build/pipeline", json={"brief": "   "}), 422, "request.invalid"
        )
        assert problem["params"]["field"] == "brief"
        problem = assert_problem(await post("/v1/build/pipeline", json={}), 422, "request.invalid")
        assert problem["params"]["field"] == "brief"
        problem = assert_problem(
            await post("/v1/build/pipeline", json={"brief": "x" * 1_000_000}), 413, "request.too_large"
        )
        problem = assert_problem(
            await post("/v1/build/pipeline", json={"brief": "Greet", "max_repairs": 6}),
            422,
            "request.invalid",
        )
        assert problem["params"]["field"] == "max_repairs"
        problem = assert_problem(
            await post("/v1/build/pipeline", json={"brief": "Greet", "model": "no-such-model"}),
            422,
            "request.invalid",
        )
        assert problem["params"]["field"] == "model"
        problem = assert_problem(
            await post("/v1/build/pipeline", json={"brief": "Greet", "domain": "Not A Domain"}),
            422,
            "request.invalid",
        )
        assert problem["params"]["field"] == "domain"
        await asyncio.sleep(1)  # the listing reads Temporal's visibility store, updated a moment later
        runs = await stack.client.get(
            "/v1/runs", params={"pipe_code": "build_pipeline", "created_after": since}
        )
        assert runs.json()["items"] == []
    assert server.requests(CHAT) == []


async def test_a_builder_model_missing_from_the_deck_is_a_501(tmp_path: Path, temporal_address: str) -> None:
    server = ModelServer()
    async with model_stack(
        temporal_address, tmp_path, [server], deck=DECK, api_overrides={"builder_model": "absent-model"}
    ) as stack:
        response = await stack.client.post("/v1/build/pipeline", json={"brief": "Greet a guest."})
        problem = assert_problem(response, 501, "runtime.unsupported")
        assert problem["params"]["capability"] == "pipeline building"


@pytest.mark.timeout(180)
async def test_the_legacy_route_answers_with_its_old_members(tmp_path: Path, temporal_address: str) -> None:
    server = ModelServer()
    server.script(Fault(path=CHAT, text=GOOD_DRAFT))
    async with builder_stack(tmp_path, temporal_address, server) as stack:
        response = await stack.client.post(
            "/api/v1/pipe-builder/build", json={"brief": "Greet a guest by name."}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["success"] is True
        assert body["plx_content"] == body["mthds_content"]
        assert body["pipelex_bundle_blueprint"]["main_pipe"] == "greet"
        assert body["pipe_structures"] is None


@pytest.mark.timeout(180)
async def test_a_build_past_its_wait_answers_504_and_goes_on(tmp_path: Path, temporal_address: str) -> None:
    server = ModelServer()
    server.script(Fault(path=CHAT, text=GOOD_DRAFT, delay=3))
    async with model_stack(
        temporal_address,
        tmp_path,
        [server],
        deck=DECK,
        keys={"openai": "sk-builder"},
        api_overrides={"builder_model": "test-llm", "build_timeout_seconds": 0.5},
    ) as stack:
        response = await stack.client.post("/v1/build/pipeline", json={"brief": "Greet a guest by name."})
        problem = assert_problem(response, 504, "provider.timeout")
        run_id = problem["params"]["pipeline_run_id"]
        status = await stack.wait_for_end(run_id, within=60)
        assert status["state"] == "COMPLETED"
