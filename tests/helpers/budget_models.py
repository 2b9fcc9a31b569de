"""What the budget and tenant-limit tests share: a priced deck, a bundle of model-backed pipes, and the
test server's log read as the provider's bill.

Prices are 0.001 USD per token, input and output. One call of `greet_one` reserves its worst case
(prompt bytes + overheads, and the output cap `BUDGET_MAX_OUTPUT_TOKENS` = `OUTPUT_CAP`): about 0.038
USD; what it actually costs, as the server counts tokens (words), is 0.012 USD: two prompt words and an
answer of ten, as long as the cap allows (so that a ledger letting calls race past a limit would be
seen billed).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.helpers.model_servers.model_server import ModelServer, Received, count_tokens

KEY = "sk-test-budgets"
CHAT = "/v1/chat/completions"
USD_PER_TOKEN = 0.001
ANSWER = "one two three four five six seven eight nine ten"
OUTPUT_CAP = 10
DECK = """
[models.test-llm]
type = "llm"
provider = "openai"
model = "test-model"
costs = { input = 1000.0, output = 1000.0 }

[models.test-img]
type = "img_gen"
provider = "openai"
model = "test-image-model"
image_cost = 0.04

[models.test-search]
type = "search"
provider = "openai"
model = "test-search-model"
costs = { input = 1000.0, output = 1000.0 }

[aliases.llm]
default-general = "test-llm"

[aliases.img_gen]
default-general = "test-img"

[aliases.search]
default-search = "test-search"
"""

BUNDLE = """domain = "budgets"

[pipe.greet_all]
type = "PipeBatch"
description = "Every item greeted by the model"
inputs = { items = "Text[]" }
output = "Text[]"
branch_pipe_code = "greet_one"
input_list_name = "items"
input_item_name = "item"

[pipe.greet_one]
type = "PipeLLM"
description = "Greets one item"
inputs = { item = "Text" }
output = "Text"
model = "test-llm"
prompt = "Greet {{ item }}."

[pipe.draw]
type = "PipeImgGen"
description = "Draws one item"
inputs = { item = "Text" }
output = "Image"
prompt = "A poster of {{ item }}."

[pipe.find]
type = "PipeSearch"
description = "Searches one item"
inputs = { item = "Text" }
output = "SearchResult"
prompt = "Who is {{ item }}?"
"""


def prompt_of(received: Received) -> str:
    messages: list[dict[str, Any]] = received.body.get("messages") or []
    return " ".join(str(message.get("content")) for message in messages)


def billed(received: Received, server: ModelServer) -> float:
    """What the server billed for one answered call: its prompt and answer tokens, as it counts them."""
    return (count_tokens(prompt_of(received)) + count_tokens(server.answer)) * USD_PER_TOKEN


def calls_of(server: ModelServer, run_tag: str) -> list[Received]:
    """The chat calls of the run whose items are tagged `run_tag` (`<tag>-<index>`)."""
    return [item for item in server.requests(CHAT) if f" {run_tag}-" in prompt_of(item)]


def batch_request(
    run_id: str, run_tag: str, items: int, budget: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A run of `greet_all` over `items` items tagged `run_tag`, with `budget` if given."""
    return {
        "mthds_contents": [BUNDLE],
        "pipe_code": "greet_all",
        "pipeline_run_id": run_id,
        "inputs": {"items": [f"{run_tag}-{index}" for index in range(items)]},
        **({"budget": budget} if budget is not None else {}),
    }


async def ended_record(
    client: httpx.AsyncClient, run_id: str, *, headers: dict[str, str] | None = None, every: float = 0.1
) -> dict[str, Any]:
    """The run's record once it has ended, read every `every` seconds."""
    while True:
        answer = await client.get(f"/v1/runs/{run_id}", headers=headers)
        assert answer.status_code == 200, answer.text
        record: dict[str, Any] = answer.json()
        if record["state"] in {"COMPLETED", "FAILED", "CANCELLED"}:
            return record
        await asyncio.sleep(every)
