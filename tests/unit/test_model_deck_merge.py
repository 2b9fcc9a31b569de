"""One deck for the service: a `MODEL_DECK` file is laid over the built-in deck, and a deck whose alias,
preset or waterfall leads to no model stops the API and the worker at start-up, named."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.main import create_app
from api.settings import ApiSettings, SettingsError
from shared.language.model_deck import DeckError, ModelDeck, ModelFamily, builtin_deck, service_deck
from tests.helpers.readme_deck import readme_deck
from worker.settings import WorkerSettings, WorkerSettingsError

HOUSE = """
[models.house]
type = "llm"
provider = "openai_compatible"
model = "qwen2.5-7b-instruct"

[models.house-ocr]
type = "extract"
provider = "openai"
model = "gpt-4o-mini"

[aliases.llm]
default-general = "house"

[waterfalls.extract]
ocr = ["house-ocr", "pypdf-text"]
"""


def test_the_readme_deck_keeps_every_builtin_default() -> None:
    deck = service_deck(readme_deck())
    builtin = builtin_deck()
    assert set(deck.models) == set(builtin.models) | {"writer", "painter"}
    for family, table in builtin.aliases.items():
        for name in table:
            assert deck.resolve(family, f"@{name}") == builtin.resolve(family, f"@{name}"), (family, name)
    assert deck.resolve(ModelFamily.LLM, "@default-structured") == ("gpt-4o", builtin.models["gpt-4o"])
    assert deck.resolve(ModelFamily.LLM, "writer") == ("writer", deck.models["writer"])
    assert deck.resolve(ModelFamily.IMG_GEN, "painter") == ("painter", deck.models["painter"])


def test_a_custom_deck_adds_and_overrides_by_name() -> None:
    deck = service_deck(HOUSE)
    house = ("house", deck.models["house"])
    # The built-in LLM defaults follow `@default-general`: setting it moves them all.
    for alias in ("@default-general", "@default-structured", "@default-vision", "@default-creative"):
        assert deck.resolve(ModelFamily.LLM, alias) == house
    assert deck.resolve(ModelFamily.LLM, "@default-small") == ("gpt-4o-mini", deck.models["gpt-4o-mini"])
    assert deck.resolve(ModelFamily.EXTRACT, "~ocr") == ("house-ocr", deck.models["house-ocr"])
    assert deck.aliases[ModelFamily.EXTRACT] == builtin_deck().aliases[ModelFamily.EXTRACT]


def test_a_redefined_handle_replaces_the_builtin_model() -> None:
    deck = service_deck('[models.gpt-4o]\ntype = "llm"\nprovider = "anthropic"\nmodel = "claude-x"\n')
    found = deck.resolve(ModelFamily.LLM, "@default-structured")
    assert found is not None
    assert (found[0], found[1].provider, found[1].model) == ("gpt-4o", "anthropic", "claude-x")


def test_the_builtin_deck_passes_its_own_check() -> None:
    assert builtin_deck().broken_references() == []
    assert service_deck(None) == builtin_deck()


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('[aliases.llm]\nhouse = "nowhere"\n', "[aliases.llm] house = 'nowhere'"),
        ('[presets.llm]\nfactual = "@missing"\n', "[presets.llm] factual = '@missing'"),
        ('[waterfalls.llm]\nchain = ["gpt-4o", "nowhere"]\n', "[waterfalls.llm] chain = 'nowhere'"),
        ("[waterfalls.llm]\nchain = []\n", "[waterfalls.llm] chain is an empty waterfall"),
        ('[aliases.img_gen]\nsketch = "gpt-4o"\n', "'gpt-4o' is a model of type llm, not img_gen"),
        ('[aliases.llm]\na = "@b"\nb = "@a"\n', "[aliases.llm] a = '@b'"),
        (
            # Retyping a built-in handle breaks the built-in aliases that lead to it: they are named.
            '[models.gpt-image-1]\ntype = "llm"\nprovider = "openai"\nmodel = "x"\n',
            "[aliases.img_gen] default-general = 'gpt-image-1'",
        ),
    ],
)
def test_a_broken_reference_is_named(text: str, named: str) -> None:
    with pytest.raises(DeckError, match="must lead to a model of the deck") as refused:
        service_deck(text)
    assert named in str(refused.value)
    # The raw deck parses: only the service's deck is checked.
    assert isinstance(ModelDeck.from_toml(text), ModelDeck)


def _deck_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "deck.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_api_refuses_a_deck_with_a_broken_alias_at_start_up(tmp_path: Path) -> None:
    deck_file = _deck_file(tmp_path, readme_deck() + '\n[aliases.llm]\nhouse = "scribe"\n')
    with pytest.raises(SettingsError, match=r"^MODEL_DECK: ") as refused:
        create_app(ApiSettings(model_deck=deck_file))
    message = str(refused.value)
    assert str(deck_file) in message
    assert "[aliases.llm] house = 'scribe'" in message


def test_the_worker_refuses_a_deck_with_a_broken_alias_at_start_up(tmp_path: Path) -> None:
    deck_file = _deck_file(tmp_path, readme_deck() + '\n[aliases.llm]\nhouse = "scribe"\n')
    with pytest.raises(WorkerSettingsError, match=r"^MODEL_DECK: ") as refused:
        WorkerSettings(model_deck=deck_file).load_model_deck()
    assert "[aliases.llm] house = 'scribe'" in str(refused.value)


def test_api_and_worker_load_the_same_deck(tmp_path: Path) -> None:
    deck_file = _deck_file(tmp_path, readme_deck())
    api_deck = ApiSettings(model_deck=deck_file).load_model_deck()
    assert api_deck == WorkerSettings(model_deck=deck_file).load_model_deck()
    assert api_deck == service_deck(readme_deck())
    assert ApiSettings(model_deck=None).load_model_deck() == WorkerSettings(model_deck=None).load_model_deck()
