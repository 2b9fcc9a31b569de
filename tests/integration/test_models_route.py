"""`GET /v1/models` and `GET /api/v1/models` through the real app (http-api.md §8.2, §12, §14, §15 item 7).

Expected listings are read from the deck's TOML with `tomllib`, not through `ModelDeck`, so a route that
drops, renames or reorders an entry fails. The `pipelex-sdk` client's `models` call is driven over HTTP.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from mthds.protocol.models import ModelCategory
from pipelex_sdk.client import PipelexAPIClient
from pipelex_sdk.errors import ApiResponseError
from pydantic import SecretStr

from api.auth import AuthMode
from api.settings import ApiSettings
from shared.language.model_deck import BUILTIN_DECK_TOML
from tests.helpers.api_server import asgi_client, assert_problem, running_api_server
from tests.helpers.run_stack import run_stack

CATEGORIES = ("llm", "extract", "img_gen", "search", "judgment")
KEY = "models-route-key"

# A deck in the format of §14: every category, extra model settings, presets and a waterfall.
CUSTOM_DECK = """
[models.house-writer]
type = "llm"
provider = "openai"
model = "qwen2.5-7b-instruct"
temperature = 0.2

[models.house-judge]
type = "judgment"
provider = "anthropic"
model = "claude-haiku-4-5"

[models.scanner]
type = "extract"
provider = "openai"
model = "gpt-4o-mini"

[models.pdf-text]
type = "extract"
provider = "local"
model = "pypdf"

[models.painter]
type = "img_gen"
provider = "openai"
model = "gpt-image-1"

[models.finder]
type = "search"
provider = "openai"
model = "gpt-4o-search-preview"

[aliases.llm]
default-small = "house-writer"

[aliases.judgment]
default-judgment = "house-judge"

[presets.llm]
writing-factual = "house-writer"

[waterfalls.extract]
ocr-extractor = ["scanner", "pdf-text"]
"""


def laid_over_builtin(deck_toml: str) -> dict[str, Any]:
    """A custom deck's data laid over the built-in deck's (README "Models"): entries add, same names win."""
    data = tomllib.loads(BUILTIN_DECK_TOML)
    custom = tomllib.loads(deck_toml)
    data["models"] = {**data.get("models", {}), **custom.get("models", {})}
    for section in ("aliases", "presets", "waterfalls"):
        tables = data.setdefault(section, {})
        for family, table in custom.get(section, {}).items():
            tables[family] = {**tables.get(family, {}), **table}
    return data


def expected_listing(
    deck_toml: str, category: str | None = None, *, over_builtin: bool = False
) -> dict[str, Any]:
    """The answer §8.2 asks for, computed from the deck's text alone (a `MODEL_DECK` file's is laid over
    the built-in deck's)."""
    data = laid_over_builtin(deck_toml) if over_builtin else tomllib.loads(deck_toml)
    models = cast(dict[str, dict[str, Any]], data.get("models", {}))

    def tables(section: str) -> dict[str, Any]:
        found = cast(dict[str, Any], data.get(section, {}))
        return {family: table for family, table in found.items() if category in (None, family)}

    return {
        "models": [
            {"name": name, "type": entry["type"]}
            for name, entry in models.items()
            if category in (None, entry["type"])
        ],
        "aliases": tables("aliases"),
        "presets": tables("presets"),
        "waterfalls": tables("waterfalls"),
    }


# What the service lists for CUSTOM_DECK: the built-in deck with the custom entries added or replaced.
CUSTOM_LISTING = expected_listing(CUSTOM_DECK, over_builtin=True)


def open_settings() -> ApiSettings:
    # Explicit: a MODEL_DECK or AUTH_MODE in the shell must not decide these tests.
    return ApiSettings(auth_mode=AuthMode.NONE, model_deck=None)


def key_overrides(deck: Path | None = None) -> dict[str, Any]:
    return {"auth_mode": AuthMode.API_KEY, "api_key": SecretStr(KEY), "model_deck": deck}


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def write_deck(directory: Path) -> Path:
    deck = directory / "deck.toml"
    deck.write_text(CUSTOM_DECK, encoding="utf-8")
    return deck


async def test_builtin_deck_is_listed_with_names_and_types() -> None:
    async with asgi_client(open_settings()) as client:
        response = await client.get("/v1/models")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body == expected_listing(BUILTIN_DECK_TOML)
    # The shape of §8.2 / §15 item 7, and names bundles commonly write.
    assert all(set(entry) == {"name", "type"} for entry in body["models"])
    assert {"name": "gpt-4o-mini", "type": "llm"} in body["models"]
    assert {"name": "gpt-image-1", "type": "img_gen"} in body["models"]
    assert {"name": "pypdf-text", "type": "extract"} in body["models"]
    assert body["aliases"]["llm"]["default-small"] == "gpt-4o-mini"
    assert body["aliases"]["judgment"]["default-judgment"] == "gpt-4o"
    assert body["waterfalls"] == {}


@pytest.mark.parametrize("category", CATEGORIES)
async def test_type_filter_keeps_one_category(category: str) -> None:
    async with asgi_client(open_settings()) as client:
        response = await client.get("/v1/models", params={"type": category})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == expected_listing(BUILTIN_DECK_TOML, category)
    assert {entry["type"] for entry in body["models"]} <= {category}
    assert set(body["aliases"]) <= {category}


async def test_llm_filter_lists_exactly_the_llm_models() -> None:
    async with asgi_client(open_settings()) as client:
        body = (await client.get("/v1/models?type=llm")).json()
    assert [entry["name"] for entry in body["models"]] == [
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4.1",
        "claude-sonnet",
    ]
    assert list(body["aliases"]) == ["llm"]


@pytest.mark.parametrize(
    "query",
    [
        "type=doc_gen",
        "type=LLM",
        "type=",
        "type=no-such-category",
        "type=llm&type=llm",
        "type=llm&type=extract",
    ],
    ids=["doc_gen", "upper-case", "empty", "unknown", "repeated", "two-categories"],
)
@pytest.mark.parametrize("path", ["/v1/models", "/api/v1/models"])
async def test_unknown_or_repeated_type_is_request_invalid(path: str, query: str) -> None:
    async with asgi_client(open_settings()) as client:
        response = await client.get(f"{path}?{query}")
    document = assert_problem(response, 422, "request.invalid")
    assert document["params"] == {"field": "type"}
    assert document["location"] == {"field": "type"}


async def test_custom_deck_file_is_listed_over_the_builtin_deck(
    temporal_address: str, tmp_path: Path
) -> None:
    deck = write_deck(tmp_path)
    async with run_stack(
        temporal_address, tmp_path, worker=False, api_overrides={"model_deck": deck}
    ) as stack:
        everything = await stack.client.get("/v1/models")
        extract = await stack.client.get("/v1/models", params={"type": "extract"})
        judgment = await stack.client.get("/v1/models", params={"type": "judgment"})
        img_gen = await stack.client.get("/api/v1/models", params={"type": "img_gen"})
    assert everything.status_code == 200, everything.text
    # Provider, model id and settings stay on the server; the built-in entries stay unless replaced.
    body = everything.json()
    assert body == CUSTOM_LISTING
    assert {"name": "house-writer", "type": "llm"} in body["models"]
    assert {"name": "gpt-4o", "type": "llm"} in body["models"]
    assert body["aliases"]["llm"]["default-small"] == "house-writer"
    assert body["aliases"]["llm"]["default-general"] == "gpt-4o"
    assert extract.json() == expected_listing(CUSTOM_DECK, "extract", over_builtin=True)
    assert extract.json()["waterfalls"] == {"extract": {"ocr-extractor": ["scanner", "pdf-text"]}}
    assert judgment.json() == {
        "models": [{"name": "house-judge", "type": "judgment"}],
        "aliases": {"judgment": {"default-judgment": "house-judge", "default-judgment-vision": "gpt-4o"}},
        "presets": {},
        "waterfalls": {},
    }
    assert img_gen.json() == expected_listing(CUSTOM_DECK, "img_gen", over_builtin=True)


async def test_deck_and_auth_come_from_the_environment(tmp_path: Path) -> None:
    # The process as deployed: MODEL_DECK, AUTH_MODE and API_KEY read from its environment (§14).
    env = {"MODEL_DECK": str(write_deck(tmp_path)), "AUTH_MODE": "api_key", "API_KEY": KEY}
    with running_api_server(env) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            refused = await client.get("/v1/models")
            listed = await client.get("/v1/models", headers=bearer(KEY))
            version = await client.get("/v1/version")
    assert_problem(refused, 401, "auth.missing_credential")
    assert listed.json() == CUSTOM_LISTING
    assert version.status_code == 200


@pytest.mark.parametrize("path", ["/v1/models", "/api/v1/models"])
async def test_models_need_the_api_key_while_version_stays_public(path: str) -> None:
    async with asgi_client(ApiSettings(**key_overrides())) as client:
        missing = await client.get(path)
        wrong = await client.get(path, headers=bearer("not-the-key"))
        # Auth runs before the query is checked: a bad filter without a key is a 401, not a 422.
        bad_filter = await client.get(f"{path}?type=bogus")
        accepted = await client.get(path, headers=bearer(KEY), params={"type": "llm"})
        version = await client.get("/v1/version")
    for response, code in ((missing, "auth.missing_credential"), (wrong, "auth.invalid_credential")):
        assert_problem(response, 401, code)
        assert response.headers["www-authenticate"] == "Bearer"
    assert_problem(bad_filter, 401, "auth.missing_credential")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json() == expected_listing(BUILTIN_DECK_TOML, "llm")
    assert version.status_code == 200
    assert "www-authenticate" not in version.headers


@pytest.mark.parametrize("query", ["", "?type=llm", "?type=extract", "?type=judgment"])
async def test_legacy_alias_answers_as_its_target(query: str) -> None:
    async with asgi_client(open_settings()) as client:
        target = await client.get(f"/v1/models{query}")
        alias = await client.get(f"/api/v1/models{query}")
    assert alias.status_code == target.status_code == 200
    assert alias.headers["content-type"] == target.headers["content-type"]
    assert alias.json() == target.json()


async def test_only_the_target_is_a_protocol_operation() -> None:
    async with asgi_client(open_settings()) as client:
        paths = (await client.get("/openapi.json")).json()["paths"]
    assert paths["/v1/models"]["get"]["x-mthds-protocol"] is True
    assert "x-mthds-protocol" not in paths["/api/v1/models"]["get"]
    (parameter,) = paths["/v1/models"]["get"]["parameters"]
    assert parameter["name"] == "type"
    assert parameter["in"] == "query"


async def test_pipelex_sdk_reads_the_deck(temporal_address: str, tmp_path: Path) -> None:
    deck = write_deck(tmp_path)
    async with (
        run_stack(temporal_address, tmp_path, worker=False, api_overrides=key_overrides(deck)) as stack,
        PipelexAPIClient(api_key=KEY, base_url=stack.base_url, request_timeout_seconds=60) as client,
    ):
        everything = await client.models()
        llm = await client.models(ModelCategory.LLM)
        with pytest.raises(ApiResponseError) as refused:
            # A category this runner does not define (the client types it closed; the wire does not).
            await client.models(cast(ModelCategory, "doc_gen"))
    # A category the protocol does not know (the built-in `doc_gen` model) keeps its raw string.
    assert [(model.name, str(model.type)) for model in everything.models] == [
        (entry["name"], entry["type"]) for entry in CUSTOM_LISTING["models"]
    ]
    assert (everything.model_extra or {})["waterfalls"] == CUSTOM_LISTING["waterfalls"]
    llm_listing = expected_listing(CUSTOM_DECK, "llm", over_builtin=True)
    assert [(model.name, model.type) for model in llm.models] == [
        (entry["name"], ModelCategory.LLM) for entry in llm_listing["models"]
    ]
    assert (llm.model_extra or {})["aliases"] == llm_listing["aliases"]
    assert (llm.model_extra or {})["aliases"]["llm"]["default-small"] == "house-writer"
    assert refused.value.status == 422
    assert refused.value.problem.code == "request.invalid"
    assert refused.value.problem.location is not None
    assert refused.value.problem.location.field == "type"
