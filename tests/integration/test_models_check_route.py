"""`GET /v1/models/check` through the real app: verdicts on the service's deck (a `MODEL_DECK` file laid over
the built-in deck) and every request that cannot get one refused as 422 `request.invalid` naming its parameter.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from api.auth import AuthMode
from api.settings import ApiSettings
from tests.helpers.api_server import asgi_client, assert_problem

DECK = """
[models.house-writer]
type = "llm"
provider = "openai"
model = "qwen2.5-7b-instruct"

[presets.llm]
writing-factual = "@default-premium"

[waterfalls.llm]
sturdy = ["house-writer", "gpt-4o"]
"""
VERDICT_MEMBERS = [
    "reference",
    "kind",
    "name",
    "category",
    "resolution",
    "matches",
    "suggestions",
    "other_kinds",
    "other_categories",
]


@pytest.fixture
async def client(tmp_path: Path) -> AsyncGenerator[httpx.AsyncClient]:
    deck = tmp_path / "deck.toml"
    deck.write_text(DECK, encoding="utf-8")
    async with asgi_client(ApiSettings(model_deck=deck, data_dir=tmp_path)) as client:
        yield client


async def _check(client: httpx.AsyncClient, **query: Any) -> dict[str, Any]:
    response = await client.get("/v1/models/check", params=query)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert list(body) == VERDICT_MEMBERS
    return body


async def test_a_preset_of_the_custom_deck_resolves_through_its_alias(client: httpx.AsyncClient) -> None:
    assert await _check(client, reference=" $writing-factual ") == {
        "reference": "$writing-factual",
        "kind": "preset",
        "name": "writing-factual",
        "category": None,
        "resolution": "resolved",
        "matches": [
            {"category": "llm", "resolves_to": "gpt-4.1", "target": "@default-premium", "description": None}
        ],
        "suggestions": [],
        "other_kinds": [],
        "other_categories": [],
    }


async def test_a_handle_names_the_entries_binding_it(client: httpx.AsyncClient) -> None:
    body = await _check(client, reference="house-writer", type="llm")
    assert body["category"] == "llm"
    assert body["matches"] == [{"category": "llm", "resolves_to": "house-writer", "via": ["~sturdy"]}]


async def test_a_waterfall_lists_its_steps(client: httpx.AsyncClient) -> None:
    body = await _check(client, reference="waterfall:sturdy")
    assert body["matches"] == [
        {"category": "llm", "resolves_to": "house-writer", "fallbacks": ["house-writer", "gpt-4o"]}
    ]


async def test_a_misspelling_is_not_found_with_suggestions(client: httpx.AsyncClient) -> None:
    body = await _check(client, reference="house-writter")
    assert (body["resolution"], body["matches"]) == ("not_found", [])
    assert body["suggestions"][0] == "house-writer"


async def test_a_reference_of_another_category_names_it(client: httpx.AsyncClient) -> None:
    body = await _check(client, reference="@default-search", type="llm")
    assert body["resolution"] == "not_found"
    assert body["other_categories"] == ["search"]


async def test_a_bare_name_of_two_models_is_ambiguous_until_typed(client: httpx.AsyncClient) -> None:
    body = await _check(client, reference="default-general")
    assert (body["kind"], body["resolution"]) == ("handle", "ambiguous")
    assert {match["resolves_to"] for match in body["matches"]} == {"gpt-4o", "gpt-image-1"}
    typed = await _check(client, reference="default-general", type="img_gen")
    assert (typed["kind"], typed["resolution"]) == ("alias", "resolved")


async def test_doc_gen_is_a_category_of_the_check(client: httpx.AsyncClient) -> None:
    body = await _check(client, reference="@default-pdf", type="doc_gen")
    assert body["matches"] == [{"category": "doc_gen", "resolves_to": "local-pdf", "target": "local-pdf"}]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("", "reference"),
        ("type=llm", "reference"),
        ("reference=", "reference"),
        ("reference=%20%20", "reference"),
        ("reference=%24", "reference"),
        ("reference=%40", "reference"),
        ("reference=~", "reference"),
        ("reference=alias%3A", "reference"),
        ("reference=gpt-4o&reference=gpt-4.1", "reference"),
        ("reference=" + "x" * 257, "reference"),
        ("reference=gpt-4o&type=video", "type"),
        ("reference=gpt-4o&type=LLM", "type"),
        ("reference=gpt-4o&type=llm&type=search", "type"),
    ],
)
async def test_requests_without_a_verdict_are_refused(
    client: httpx.AsyncClient, query: str, field: str
) -> None:
    document = assert_problem(await client.get(f"/v1/models/check?{query}"), 422, "request.invalid")
    assert document["params"] == {"field": field}


async def test_the_longest_reference_gets_a_verdict(client: httpx.AsyncClient) -> None:
    body = await _check(client, reference="x" * 256)
    assert body["resolution"] == "not_found"


async def test_the_check_is_authenticated(tmp_path: Path) -> None:
    settings = ApiSettings(auth_mode=AuthMode.API_KEY, api_key=SecretStr("check-key"), data_dir=tmp_path)
    async with asgi_client(settings) as client:
        assert_problem(
            await client.get("/v1/models/check", params={"reference": "gpt-4o"}),
            401,
            "auth.missing_credential",
        )
        allowed = await client.get(
            "/v1/models/check", params={"reference": "gpt-4o"}, headers={"Authorization": "Bearer check-key"}
        )
        assert allowed.json()["resolution"] == "resolved"
