"""PipeSearch without a search provider fails typed before any request (`provider.unavailable`), and the
search filters read as the prompt lines and Perplexity fields the provider module documents.

The operator runs in-process through the worker's executor; no network is touched: each case fails
before the provider would be called.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.language.model_deck import ModelDeck
from shared.runtime.run_failure import PipeRunError
from shared.runtime.run_pipeline import RunRequest, run_pipeline
from shared.storage.blob_store import LocalBlobStore
from tests.helpers.methods import library_of
from worker.operators.local import LocalOperatorExecutor
from worker.providers.registry import ProviderRegistry
from worker.providers.search import SearchFilters

BUNDLE = """domain = "searching"

[pipe.find]
type = "PipeSearch"
description = "Searches with the deck's default"
inputs = { topic = "Text" }
output = "SearchResult"
prompt = "News about {{ topic }}."

[pipe.find_named]
type = "PipeSearch"
description = "Searches with a named model"
inputs = { topic = "Text" }
output = "SearchResult"
model = "web-search"
prompt = "News about {{ topic }}."
"""

NO_SEARCH_DECK = """
[models.gpt-4o]
type = "llm"
provider = "openai"
model = "gpt-4o"
"""

CLAUDE_SEARCH_DECK = """
[models.claude-search]
type = "search"
provider = "anthropic"
model = "claude-sonnet-4-5"

[aliases.search]
default-search = "claude-search"
"""


async def failure(tmp_path: Path, pipe: str, deck: str, providers: ProviderRegistry) -> PipeRunError:
    library = library_of(BUNDLE)  # validated against the builtin deck, run against `deck`
    executor = LocalOperatorExecutor(
        library,
        LocalBlobStore(tmp_path),
        run_key="search",
        deck=ModelDeck.from_toml(deck),
        providers=providers,
    )
    try:
        with pytest.raises(PipeRunError) as caught:
            await run_pipeline(library, RunRequest(f"searching.{pipe}", {"topic": "Ada"}), executor)
    finally:
        await providers.aclose()
    return caught.value


async def test_a_deck_without_a_search_model_is_provider_unavailable(tmp_path: Path) -> None:
    error = await failure(tmp_path, "find", NO_SEARCH_DECK, ProviderRegistry(openai_api_key="sk-unused"))
    assert (error.code, error.pipe, error.retryable) == ("provider.unavailable", "find", False)
    assert "MODEL_DECK" in error.message
    assert "default-search" in error.message


async def test_a_named_model_the_deck_lacks_stays_model_unknown(tmp_path: Path) -> None:
    error = await failure(
        tmp_path, "find_named", NO_SEARCH_DECK, ProviderRegistry(openai_api_key="sk-unused")
    )
    assert (error.code, error.pipe) == ("model.unknown", "find_named")


async def test_a_provider_that_cannot_search_is_provider_unavailable(tmp_path: Path) -> None:
    providers = ProviderRegistry(anthropic_api_key="sk-ant-unused")
    error = await failure(tmp_path, "find", CLAUDE_SEARCH_DECK, providers)
    assert (error.code, error.pipe, error.retryable) == ("provider.unavailable", "find", False)
    assert "OpenAI-compatible" in error.message
    assert error.params["provider"] == "anthropic"


def test_filters_read_as_prompt_lines_and_perplexity_fields() -> None:
    filters = SearchFilters(
        include_domains=("arxiv.org",),
        exclude_domains=("example.com", "spam.test"),
        from_date="2024-03-05",
        to_date="2025-11-30",
        max_results=3,
    )
    assert filters.perplexity_fields() == {
        "search_domain_filter": ["arxiv.org", "-example.com", "-spam.test"],
        "search_after_date_filter": "3/5/2024",
        "search_before_date_filter": "11/30/2025",
    }
    assert filters.instructions() == [
        "Only use sources from these domains: arxiv.org.",
        "Do not use sources from these domains: example.com, spam.test.",
        "Only use sources published on or after 2024-03-05.",
        "Only use sources published on or before 2025-11-30.",
        "Cite at most 3 sources.",
    ]
    assert SearchFilters().perplexity_fields() == {}
    assert SearchFilters().instructions() == []
