"""PipeSearch runs for real: the API and a worker on Temporal, a custom model deck, and the OpenAI SDK
asking the fake OpenAI-compatible server for a web search on loopback (answer, sources, what was sent,
usage, typed faults), and the dry run of the same bundle with no provider at all.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from shared.language.report import BundleSource
from shared.runtime.run_pipeline import RunRequest
from tests.helpers.api_server import assert_problem
from tests.helpers.model_servers.model_server import Fault, ModelServer
from tests.helpers.model_servers.openai_server import SEARCH_SNIPPET
from tests.helpers.model_stack import model_stack
from tests.helpers.run_stack import RunStack
from worker.in_process import run_sources

KEY = "sk-test-search-runs"
CHAT = "/v1/chat/completions"
ANSWER = "Ada Lovelace wrote the first program."
FIRST = "https://example.org/search/first"
SECOND = "https://example.org/search/second"
DECK = """
[models.test-search]
type = "search"
provider = "openai"
model = "test-search-model"
costs = { input = 2.5, output = 10.0 }

[models.compat-search]
type = "search"
provider = "openai_compatible"
model = "sonar"

[models.compat-search.settings]
web_search_options = { search_context_size = "high" }

[aliases.search]
default-search = "test-search"
"""

FIND_BUNDLE = """domain = "search_runs"

[concept.Brief]
description = "A search brief"
refines = "SearchResult"

[pipe.find]
type = "PipeSearch"
description = "Searches the web"
inputs = { topic = "Text" }
output = "SearchResult"
prompt = "Who wrote the first program? Topic: {{ topic }}."

[pipe.find_two]
type = "PipeSearch"
description = "Searches twice"
inputs = { topic = "Text" }
output = "SearchResult[2]"
prompt = "Two takes on {{ topic }}."
"""

BUNDLE = (
    FIND_BUNDLE
    + """
[pipe.find_filtered]
type = "PipeSearch"
description = "Searches a few domains over one year"
inputs = { topic = "Text" }
output = "Brief"
model = { model = "compat-search", include_inline_citations = false, max_results = 1 }
prompt = "Papers about {{ topic }}."
include_domains = ["arxiv.org", "acm.org"]
exclude_domains = ["example.com"]
from_date = "2024-01-01"
to_date = "2024-12-31"
"""
)


def search_stack(
    temporal_address: str, tmp_path: Path, server: ModelServer, *, key: str | None = KEY, attempts: int = 1
) -> AbstractAsyncContextManager[RunStack]:
    return model_stack(
        temporal_address,
        tmp_path,
        [server],
        deck=DECK,
        keys={"openai": key},
        pipe_activity_max_attempts=attempts,
        pipe_activity_initial_interval_seconds=0.1,
    )


def execute(pipe: str, run_id: str) -> dict[str, Any]:
    return {
        "mthds_contents": [BUNDLE],
        "pipe_code": pipe,
        "inputs": {"topic": "Ada"},
        "pipeline_run_id": run_id,
    }


def main_stuff(body: dict[str, Any]) -> dict[str, Any]:
    assert body["state"] == "COMPLETED", body
    root = body["pipe_output"]["working_memory"]["root"]
    return root[body["main_stuff_name"]]


def document(url: str, title: str, snippet: str | None = None) -> dict[str, Any]:
    return {
        "url": url,
        "public_url": None,
        "mime_type": None,
        "filename": None,
        "title": title,
        "snippet": snippet,
    }


async def test_a_search_answers_with_its_sources_and_records_its_usage(
    temporal_address: str, tmp_path: Path
) -> None:
    server = ModelServer("openai", api_key=KEY, answer=ANSWER)
    async with search_stack(temporal_address, tmp_path, server) as stack:
        response = await stack.client.post("/v1/execute", json=execute("find", "run-search"))
        assert response.status_code == 200, response.text
        body = response.json()
        run = (await stack.client.get("/v1/runs/run-search")).json()
        listed = await stack.client.post("/v1/execute", json=execute("find_two", "run-search-two"))
        assert listed.status_code == 200, listed.text
    stuff = main_stuff(body)
    assert stuff["concept"] == "native.SearchResult"
    answer = f"{ANSWER} ([First source]({FIRST})) ([Second source]({SECOND}))"
    # The annotations and Perplexity's `citations` name the same two URLs: one Document each, the
    # snippet coming from `search_results`.
    assert stuff["content"] == {
        "answer": answer,
        "sources": [document(FIRST, "First source", SEARCH_SNIPPET), document(SECOND, "Second source")],
    }
    sent = server.requests(CHAT)[0]
    assert sent.body["model"] == "test-search-model"
    assert sent.body["web_search_options"] == {}
    assert sent.body["messages"] == [{"role": "user", "content": "Who wrote the first program? Topic: Ada."}]
    assert not {"search_domain_filter", "response_format", "temperature"} & set(sent.body)

    (usage,) = body["pipe_output"]["tokens_usages"]
    tokens = {"input": 7, "output": len(answer.split())}  # the test server counts words
    assert usage["model_type"] == "search"
    assert usage["job_category"] == "search"
    assert usage["inference_model_name"] == "test-search"
    assert usage["inference_model_id"] == "test-search-model"
    assert usage["pipe_code"] == "find"
    assert usage["unit_job_id"] == "search"
    assert usage["nb_tokens_by_category"] == tokens
    cost = (tokens["input"] * 2.5 + tokens["output"] * 10.0) / 1_000_000
    assert usage["cost"] == pytest.approx(cost)
    assert run["usage"]["model_calls"] == 1
    assert run["usage"]["cost_usd"] == pytest.approx(cost)

    # `SearchResult[2]`: one search per item, each with its own usage record.
    two = main_stuff(listed.json())
    assert [item["sources"][0]["url"] for item in two["content"]["items"]] == [FIRST, FIRST]
    assert [usage["unit_job_id"] for usage in listed.json()["pipe_output"]["tokens_usages"]] == [
        "search-0",
        "search-1",
    ]
    assert [item.body["messages"][0]["content"] for item in server.requests(CHAT)[1:]] == [
        "Two takes on Ada."
    ] * 2


async def test_filters_settings_and_a_refinement_reach_a_compatible_server(
    temporal_address: str, tmp_path: Path
) -> None:
    server = ModelServer("openai", api_key=KEY, answer=ANSWER)
    async with search_stack(temporal_address, tmp_path, server) as stack:
        response = await stack.client.post(
            "/v1/execute", json=execute("find_filtered", "run-search-filtered")
        )
        assert response.status_code == 200, response.text
    stuff = main_stuff(response.json())
    assert stuff["concept"] == "search_runs.Brief"
    # No inline citations: the annotated spans are cut; `max_results = 1` keeps the first source.
    assert stuff["content"] == {
        "answer": ANSWER,
        "sources": [document(FIRST, "First source", SEARCH_SNIPPET)],
    }
    (sent,) = server.requests(CHAT)
    assert sent.body["model"] == "sonar"
    assert sent.body["web_search_options"] == {"search_context_size": "high"}  # from the deck's settings
    assert sent.body["search_domain_filter"] == ["arxiv.org", "acm.org", "-example.com"]
    assert sent.body["search_after_date_filter"] == "1/1/2024"
    assert sent.body["search_before_date_filter"] == "12/31/2024"
    assert sent.body["messages"] == [
        {
            "role": "user",
            "content": "Papers about Ada.\n"
            "Only use sources from these domains: arxiv.org, acm.org.\n"
            "Do not use sources from these domains: example.com.\n"
            "Only use sources published on or after 2024-01-01.\n"
            "Only use sources published on or before 2024-12-31.\n"
            "Cite at most 1 sources.",
        }
    ]


async def test_no_key_is_provider_unavailable_and_a_dry_run_needs_none(
    temporal_address: str, tmp_path: Path
) -> None:
    server = ModelServer("openai", api_key=KEY)
    async with search_stack(temporal_address, tmp_path, server, key=None) as stack:
        response = await stack.client.post("/v1/execute", json=execute("find", "run-search-nokey"))
        problem = assert_problem(response, 502, "provider.unavailable")
        assert problem["location"]["pipe"] == "find"
        assert "OPENAI_API_KEY" in problem["detail"]
        # Validation dry-runs every pipe of the bundle against the same deck, with no provider.
        verdict = await stack.client.post("/v1/validate", json={"mthds_contents": [BUNDLE]})
        assert verdict.status_code == 200, verdict.text
        assert verdict.json()["is_valid"] is True, verdict.json()
    assert server.requests() == []
    dry = await run_sources(
        [BundleSource(path="bundle.mthds", text=FIND_BUNDLE)],  # the builtin deck's search model
        RunRequest("find", {"topic": "Ada"}),
        dry_run=True,
        storage_root=tmp_path / "dry",
    )
    mock = dry.main_json()
    assert isinstance(mock["answer"], str)
    assert isinstance(mock["sources"], list)


async def test_a_server_error_is_retried_then_fails_provider_unavailable(
    temporal_address: str, tmp_path: Path
) -> None:
    server = ModelServer("openai", api_key=KEY, answer=ANSWER)
    server.script(Fault(status=500, path=CHAT, times=1))
    async with search_stack(temporal_address, tmp_path, server, attempts=2) as stack:
        recovered = await stack.client.post("/v1/execute", json=execute("find", "run-search-500-once"))
        assert recovered.status_code == 200, recovered.text
        assert main_stuff(recovered.json())["content"]["answer"].startswith(ANSWER)
        assert [item.status for item in server.requests(CHAT)] == [500, 200]

        server.script(Fault(status=500, path=CHAT, times=2, message="search backend down"))
        failed = await stack.client.post("/v1/execute", json=execute("find", "run-search-500"))
        problem = assert_problem(failed, 502, "provider.unavailable")
        assert problem["location"]["pipe"] == "find"
        assert "search backend down" in problem["detail"]
        assert [item.status for item in server.requests(CHAT)] == [500, 200, 500, 500]


async def test_a_refused_key_is_not_retried(temporal_address: str, tmp_path: Path) -> None:
    server = ModelServer("openai", api_key="sk-the-right-one")
    async with search_stack(temporal_address, tmp_path, server, attempts=2) as stack:
        response = await stack.client.post("/v1/execute", json=execute("find", "run-search-401"))
        problem = assert_problem(response, 502, "provider.credential_refused")
        assert problem["location"]["pipe"] == "find"
        assert KEY not in response.text
    assert len(server.requests(CHAT)) == 1
