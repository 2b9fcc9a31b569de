"""`ApiSettings` read from the environment; unusable values name their variable (http-api.md §4.4, §14)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from api.main import create_app
from api.settings import ApiSettings, SettingsError, get_settings
from shared.language.model_deck import ModelFamily


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_defaults_are_the_reference_limits() -> None:
    settings = get_settings()
    assert settings.port == 8081
    assert settings.max_request_body_bytes == 100 * 1024 * 1024
    assert settings.max_mthds_file_bytes == 1024 * 1024
    assert settings.max_mthds_files_per_request == 16
    assert settings.max_bundle_files == 128
    assert settings.max_bundle_total_bytes == 8192 * 1024
    assert (settings.max_pipe_code_len, settings.max_callback_urls, settings.max_callback_url_len) == (
        256,
        5,
        2048,
    )
    assert settings.max_input_file_mib == 50
    assert settings.cors_origins == ["*"]


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_REQUEST_BODY_MIB", "3")
    monkeypatch.setenv("log_level", "debug")
    monkeypatch.setenv("CORS_ALLOW_ORIGINS", " https://a.example ,https://b.example,")
    settings = get_settings()
    assert settings.max_request_body_bytes == 3 * 1024 * 1024
    assert settings.log_level == "DEBUG"
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert get_settings() is settings


@pytest.mark.parametrize(
    ("variable", "value"),
    [("MAX_BUNDLE_FILES", "many"), ("MAX_MTHDS_FILE_KIB", "0"), ("PORT", "x"), ("LOG_LEVEL", "LOUD")],
)
def test_invalid_values_name_the_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        get_settings()


def test_model_deck_file_is_loaded(tmp_path: Path) -> None:
    deck_file = tmp_path / "deck.toml"
    deck_file.write_text(
        '[models.house]\ntype = "llm"\nprovider = "openai"\nmodel = "gpt-4o"\n', encoding="utf-8"
    )
    deck = ApiSettings(model_deck=deck_file).load_model_deck()
    assert deck.knows(ModelFamily.LLM, "house")
    assert ApiSettings().load_model_deck().knows(ModelFamily.LLM, "@default-small")


@pytest.mark.parametrize("content", [None, b"[models.x]\ntype = 3\n", b"not = [toml", b"\xff\xfe"])
def test_unusable_model_deck_stops_the_app(tmp_path: Path, content: bytes | None) -> None:
    deck_file = tmp_path / "deck.toml"
    if content is not None:
        deck_file.write_bytes(content)
    with pytest.raises(SettingsError, match=r"^MODEL_DECK: "):
        create_app(ApiSettings(model_deck=deck_file))
