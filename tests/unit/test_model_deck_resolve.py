"""`ModelDeck.resolve`: every reference form leads to the handle and model the worker calls."""

from __future__ import annotations

import pytest

from shared.language.model_deck import ModelDeck, ModelFamily, builtin_deck

DECK = ModelDeck.from_toml(
    """
[models.fast]
type = "llm"
provider = "openai"
model = "fast-1"
temperature = 0.2

[models.slow]
type = "llm"
provider = "anthropic"
model = "slow-1"

[models.painter]
type = "img_gen"
provider = "openai"
model = "paint-1"

[aliases.llm]
quick = "fast"
chained = "@quick"
loop-a = "@loop-b"
loop-b = "@loop-a"
dangling = "nowhere"

[presets.llm]
for-text = "slow"

[waterfalls.llm]
fallback = ["missing", "@dangling", "slow", "fast"]
empty = ["missing"]

[aliases.img_gen]
quick = "painter"
"""
)


@pytest.mark.parametrize(
    ("reference", "handle"),
    [
        ("fast", "fast"),
        ("handle:slow", "slow"),
        ("@quick", "fast"),
        ("alias:quick", "fast"),
        ("quick", "fast"),  # a bare alias name, as `knows` reads it
        ("@chained", "fast"),
        ("$for-text", "slow"),
        ("for-text", "slow"),
        ("~fallback", "slow"),  # the first entry that resolves
        ("waterfall:fallback", "slow"),
    ],
)
def test_references_resolve_to_their_model(reference: str, handle: str) -> None:
    found = DECK.resolve(ModelFamily.LLM, reference)
    assert found is not None
    assert found == (handle, DECK.models[handle])


def test_the_model_keeps_its_extra_settings() -> None:
    found = DECK.resolve(ModelFamily.LLM, "@quick")
    assert found is not None
    _, model = found
    assert (model.provider, model.model, model.model_extra) == ("openai", "fast-1", {"temperature": 0.2})


@pytest.mark.parametrize(
    "reference",
    ["nope", "@nope", "$nope", "~nope", "@dangling", "~empty", "@loop-a", "painter", "handle:painter"],
)
def test_unknown_or_dangling_references_resolve_to_none(reference: str) -> None:
    assert DECK.resolve(ModelFamily.LLM, reference) is None


def test_families_keep_their_own_aliases() -> None:
    assert DECK.resolve(ModelFamily.IMG_GEN, "@quick") == ("painter", DECK.models["painter"])
    assert DECK.resolve(ModelFamily.IMG_GEN, "fast") is None


def test_judgment_may_use_llm_models() -> None:
    assert DECK.resolve(ModelFamily.JUDGMENT, "fast") == ("fast", DECK.models["fast"])
    assert DECK.resolve(ModelFamily.EXTRACT, "fast") is None


@pytest.mark.parametrize(
    ("family", "reference"),
    [
        (ModelFamily.LLM, "@default-general"),
        (ModelFamily.LLM, "@best-claude"),
        (ModelFamily.JUDGMENT, "@default-judgment"),
        (ModelFamily.EXTRACT, "@default-extract-document"),
        (ModelFamily.IMG_GEN, "@default-general"),
    ],
)
def test_every_known_builtin_reference_resolves(family: ModelFamily, reference: str) -> None:
    deck = builtin_deck()
    assert deck.knows(family, reference)
    assert deck.resolve(family, reference) is not None


def test_builtin_default_alias_targets() -> None:
    deck = builtin_deck()
    assert deck.resolve(ModelFamily.LLM, "@default-general") == ("gpt-4o", deck.models["gpt-4o"])
    assert deck.resolve(ModelFamily.LLM, "@best-claude") == ("claude-sonnet", deck.models["claude-sonnet"])
