"""PipeLLM across providers, through the API, Temporal and a worker: an OpenAI-compatible model and an
Anthropic model in one deck with prices, usage records and costs in the results, image inputs attached,
`Text[N]` as N choices, and the deck's provider settings sent with each call.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.model_servers.model_server import ModelServer
from tests.helpers.model_servers.tiny_png import solid_png
from tests.helpers.model_stack import main_content, model_stack
from tests.helpers.run_functions import SLOW
from tests.helpers.run_stack import RunStack

OPENAI_KEY = "sk-test-models-openai"
ANTHROPIC_KEY = "sk-ant-test-models"
CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"
# USD per million tokens; chosen so every cost below is an exact decimal.
DECK = """
[models.writer]
type = "llm"
provider = "openai"
model = "test-model"
costs = { input = 2.0, output = 8.0 }
settings = { top_p = 0.5, seed = 7 }

[models.checker]
type = "llm"
provider = "anthropic"
model = "claude-test"
costs = { input = 3.0, output = 15.0 }

[aliases.llm]
default-general = "writer"
default-structured = "writer"
"""

BUNDLE = f"""domain = "models_runs"

[concept.Verdict]
description = "A checked greeting"

[concept.Verdict.structure]
polite = {{ type = "boolean", description = "Whether it is polite", required = true }}
reason = {{ type = "text", description = "Why", required = true }}

[pipe.greet]
type = "PipeLLM"
description = "Greets"
inputs = {{ name = "Text" }}
output = "Text"
prompt = "Say hello to {{{{ name }}}}."

[pipe.check]
type = "PipeLLM"
description = "Checks a greeting with another provider"
inputs = {{ greeting = "Text" }}
output = "Verdict"
model = "checker"
prompt = "Is this polite? {{{{ greeting }}}}"

[pipe.greet_and_check]
type = "PipeSequence"
description = "Greets, then checks the greeting"
inputs = {{ name = "Text" }}
output = "Verdict"
steps = [
  {{ pipe = "greet", result = "greeting" }},
  {{ pipe = "check", result = "verdict" }},
]

[pipe.greet_and_check_twice]
type = "PipeSequence"
description = "Greets and checks, twice"
inputs = {{ name = "Text" }}
output = "Verdict"
steps = [
  {{ pipe = "greet", result = "greeting" }},
  {{ pipe = "check", result = "verdict" }},
  {{ pipe = "greet", result = "greeting" }},
  {{ pipe = "check", result = "verdict" }},
]

[pipe.describe]
type = "PipeLLM"
description = "Describes a photo"
inputs = {{ photo = "Image" }}
output = "Text"
prompt = "Describe this photo: $photo"

[pipe.hold]
type = "PipeFunc"
description = "Holds the greeting a while"
inputs = {{ greeting = "Text" }}
output = "Text"
function_name = "{SLOW}"

[pipe.greet_then_hold]
type = "PipeSequence"
description = "Greets, then holds the greeting"
inputs = {{ name = "Text" }}
output = "Text"
steps = [
  {{ pipe = "greet", result = "greeting" }},
  {{ pipe = "hold", result = "held" }},
]

[pipe.taglines]
type = "PipeLLM"
description = "Three taglines"
inputs = {{ name = "Text" }}
output = "Text[3]"
prompt = "Three taglines for {{{{ name }}}}."
"""


def execute(pipe: str, run_id: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"mthds_contents": [BUNDLE], "pipe_code": pipe, "inputs": inputs, "pipeline_run_id": run_id}


@pytest.fixture
async def stack_and_servers(
    temporal_address: str, tmp_path: Path
) -> AsyncGenerator[tuple[RunStack, ModelServer, ModelServer]]:
    openai_server = ModelServer("openai", api_key=OPENAI_KEY, answer="Hello there, Ada.")
    anthropic_server = ModelServer("anthropic", api_key=ANTHROPIC_KEY)
    servers = [openai_server, anthropic_server]
    async with model_stack(
        temporal_address, tmp_path, servers, deck=DECK, pipe_activity_max_attempts=1
    ) as stack:
        yield stack, openai_server, anthropic_server


async def test_two_providers_usage_and_cost(
    stack_and_servers: tuple[RunStack, ModelServer, ModelServer],
) -> None:
    stack, openai_server, anthropic_server = stack_and_servers
    run_id = "run-models-usage"
    response = await stack.client.post(
        "/v1/execute", json=execute("greet_and_check", run_id, {"name": "Ada"})
    )
    assert response.status_code == 200, response.text
    body = response.json()
    verdict = main_content(body)
    assert set(verdict) == {"polite", "reason"}

    [openai_call] = openai_server.requests(CHAT)
    [anthropic_call] = anthropic_server.requests(MESSAGES)
    assert anthropic_call.body["model"] == "claude-test"
    assert anthropic_call.body["messages"][0]["content"][-1]["text"] == "Is this polite? Hello there, Ada."
    # The deck's `settings` table goes with every call to `writer`, and only to it.
    assert openai_call.body["top_p"] == 0.5
    assert openai_call.body["seed"] == 7
    assert "top_p" not in anthropic_call.body

    usages = body["pipe_output"]["tokens_usages"]
    assert [(usage["pipe_code"], usage["inference_model_name"]) for usage in usages] == [
        ("greet", "writer"),
        ("check", "checker"),
    ]
    greet, check = usages
    assert set(greet) == {
        "model_type",
        "inference_model_name",
        "inference_model_id",
        "pipe_code",
        "job_category",
        "unit_job_id",
        "nb_tokens_by_category",
        "cost",
        "started_at",
        "completed_at",
    }
    # The test servers count one token per word: "Say hello to Ada." is 4 in, the answer 3 out.
    assert greet["nb_tokens_by_category"] == {"input": 4, "output": 3}
    assert greet["cost"] == pytest.approx((4 * 2.0 + 3 * 8.0) / 1_000_000)
    assert greet["model_type"] == "llm"
    assert greet["job_category"] == "llm_text"
    assert check["job_category"] == "llm_object"
    check_tokens = check["nb_tokens_by_category"]
    assert check_tokens["input"] > 0
    assert check_tokens["output"] > 0
    expected_check = (check_tokens["input"] * 3.0 + check_tokens["output"] * 15.0) / 1_000_000
    assert check["cost"] == pytest.approx(expected_check)

    results = await stack.client.get(f"/v1/runs/{run_id}/results", params={"artifacts": "tokens_usages"})
    assert results.status_code == 200, results.text
    assert results.json()["tokens_usages"] == usages
    record = await stack.client.get(f"/v1/runs/{run_id}")
    assert record.status_code == 200, record.text
    usage = record.json()["usage"]
    assert usage["model_calls"] == 2
    assert usage["cost_usd"] == pytest.approx(greet["cost"] + expected_check)
    assert usage["nb_tokens_by_category"]["input"] == 4 + check_tokens["input"]


async def test_status_counts_the_model_calls_and_their_cost_as_the_run_goes(
    stack_and_servers: tuple[RunStack, ModelServer, ModelServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`counters.model_calls` and `cost_usd` (a methodflow extension) while a later step still runs, and
    the same totals once the run has ended (read from its stored end, not from a worker)."""
    monkeypatch.setenv("SLOW_SECONDS", "3")
    stack, _, _ = stack_and_servers
    run_id = "run-models-spend-so-far"
    started = await stack.client.post("/v1/start", json=execute("greet_then_hold", run_id, {"name": "Ada"}))
    assert started.status_code == 202, started.text
    greet_cost = (4 * 2.0 + 3 * 8.0) / 1_000_000
    status: dict[str, Any] = {}
    for _ in range(200):
        status = (await stack.client.get(f"/v1/runs/{run_id}/status")).json()
        if status["progress"]["current_pipe"] == "hold":
            break
        await asyncio.sleep(0.02)
    assert status["state"] == "RUNNING", status
    assert status["progress"]["model_calls"] == 1
    assert status["progress"]["cost_usd"] == pytest.approx(greet_cost)

    ended = await stack.wait_for_end(run_id)
    assert ended["state"] == "COMPLETED", ended
    assert ended["progress"]["model_calls"] == 1
    assert ended["progress"]["cost_usd"] == pytest.approx(greet_cost)
    progress = (await stack.client.get(f"/v1/runs/{run_id}/progress")).json()
    assert progress["counters"]["model_calls"] == 1


async def test_image_input_is_attached_and_text_n_asks_choices(
    stack_and_servers: tuple[RunStack, ModelServer, ModelServer],
) -> None:
    stack, openai_server, _ = stack_and_servers
    png = solid_png(8, 6)
    photo = {"url": f"data:image/png;base64,{base64.b64encode(png).decode()}"}
    described = await stack.client.post(
        "/v1/execute", json=execute("describe", "run-models-image", {"photo": photo})
    )
    assert described.status_code == 200, described.text
    assert main_content(described.json()) == {"text": "Hello there, Ada."}
    parts = openai_server.requests(CHAT)[-1].body["messages"][-1]["content"]
    assert parts[0]["type"] == "text"
    assert parts[0]["text"].startswith("Describe this photo:")
    [image] = [part for part in parts if part["type"] == "image_url"]
    # The API stored the data URL; the worker read it back and sent the very same bytes.
    sent = image["image_url"]["url"]
    assert sent.startswith("data:image/png;base64,")
    assert base64.b64decode(sent.partition(",")[2]) == png

    taglines = await stack.client.post(
        "/v1/execute", json=execute("taglines", "run-models-choices", {"name": "Ada"})
    )
    assert taglines.status_code == 200, taglines.text
    assert main_content(taglines.json()) == {
        "items": [
            {"text": "Hello there, Ada."},
            {"text": "Hello there, Ada. (2)"},
            {"text": "Hello there, Ada. (3)"},
        ]
    }
    sent_body = openai_server.requests(CHAT)[-1].body
    assert sent_body["n"] == 3
    assert "response_format" not in sent_body


async def test_many_usage_records_are_stored_and_read_back(temporal_address: str, tmp_path: Path) -> None:
    """Over `OUTPUT_INLINE_MAX_KIB` the records leave the workflow result for storage; reads are the same."""
    openai_server = ModelServer("openai", api_key=OPENAI_KEY, answer="Hello there, Ada.")
    anthropic_server = ModelServer("anthropic", api_key=ANTHROPIC_KEY)
    async with model_stack(
        temporal_address,
        tmp_path,
        [openai_server, anthropic_server],
        deck=DECK,
        pipe_activity_max_attempts=1,
        output_inline_max_kib=1,  # four records (about 1.5 KB of JSON) go to storage
    ) as stack:
        run_id = "run-models-stored-usage"
        response = await stack.client.post(
            "/v1/execute", json=execute("greet_and_check_twice", run_id, {"name": "Ada"})
        )
        assert response.status_code == 200, response.text
        usages = response.json()["pipe_output"]["tokens_usages"]
        assert [usage["pipe_code"] for usage in usages] == ["greet", "check", "greet", "check"]
        stored = list((tmp_path / "data" / "storage").rglob("tokens_usages.json"))
        assert len(stored) == 1
        assert json.loads(stored[0].read_text(encoding="utf-8")) == usages
        record = await stack.client.get(f"/v1/runs/{run_id}")
        assert record.json()["usage"]["model_calls"] == 4
