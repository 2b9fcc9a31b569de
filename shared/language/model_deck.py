"""The model deck: which model references a bundle may name, per family, and what they lead to. Pure:
built from TOML text.

The deck is configuration, not language (mthds.md §8). One deck serves a whole service: the API
validates against it and the workers call its models (`service_deck`), so a method that validates finds
its models at run time. A custom deck (`MODEL_DECK`) is laid over the built-in deck: its models,
aliases, presets and waterfalls add to the built-in ones and replace those of the same name, so every
default an operator uses when a pipe names no model (`@default-general`, `@default-structured`...)
keeps resolving. The built-in LLM defaults follow `@default-general`, so a deck that sets only that
alias moves them all. The deck is then checked: an alias, preset or waterfall that leads to no model
of its family stops the service at start-up, named.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.language.model_rates import ModelRate, RateError, model_rate

_T = TypeVar("_T")


class ModelFamily(StrEnum):
    """Deck sections, one per kind of model a pipe can draw from."""

    LLM = "llm"
    JUDGMENT = "judgment"
    EXTRACT = "extract"
    IMG_GEN = "img_gen"
    SEARCH = "search"
    DOC_GEN = "doc_gen"


class DeckModel(BaseModel):
    """One `[models.<name>]` entry."""

    model_config = ConfigDict(frozen=True, extra="allow")

    type: ModelFamily
    provider: str
    model: str


class DeckError(ValueError):
    """The deck text is not a valid deck."""


class ModelDeck(BaseModel):
    """Models by handle, plus aliases, presets and waterfalls per family."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    models: dict[str, DeckModel] = Field(default_factory=dict[str, DeckModel])
    aliases: dict[ModelFamily, dict[str, str]] = Field(default_factory=dict[ModelFamily, dict[str, str]])
    presets: dict[ModelFamily, dict[str, str]] = Field(default_factory=dict[ModelFamily, dict[str, str]])
    waterfalls: dict[ModelFamily, dict[str, list[str]]] = Field(
        default_factory=dict[ModelFamily, dict[str, list[str]]]
    )
    # Rates shared by every model of a provider that has no `rate` of its own (`model_rates.py`).
    provider_rates: dict[str, ModelRate] = Field(default_factory=dict[str, ModelRate])

    @classmethod
    def from_toml(cls, text: str) -> ModelDeck:
        """Parse a deck file's text; raises `DeckError` naming what is wrong."""
        try:
            data: dict[str, Any] = tomllib.loads(text)
            return cls.model_validate(data)
        except (tomllib.TOMLDecodeError, ValidationError) as exc:
            msg = f"invalid model deck: {exc}"
            raise DeckError(msg) from exc

    def knows(self, family: ModelFamily, reference: str) -> bool:
        """Whether `reference` (`$preset`, `@alias`, `~waterfall`, prefixed or bare handle) exists in `family`."""
        kind, name = split_model_reference(reference)
        if kind == "alias":
            return name in self.aliases.get(family, {})
        if kind == "preset":
            return name in self.presets.get(family, {})
        if kind == "waterfall":
            return name in self.waterfalls.get(family, {})
        model = self.models.get(name)
        if model is not None:
            return model.type == family or (family == ModelFamily.JUDGMENT and model.type == ModelFamily.LLM)
        # A bare name may also be an alias, preset or waterfall written without its sigil.
        return any(name in table.get(family, {}) for table in (self.aliases, self.presets, self.waterfalls))

    def resolve(self, family: ModelFamily, reference: str) -> tuple[str, DeckModel] | None:
        """The handle and model `reference` stands for in `family`, or None when it names none.

        An alias or preset leads to its target; a waterfall to its first entry that resolves. Names
        read as `knows` reads them: a bare name may be a handle or a sigil-less alias, preset or waterfall.
        """
        return self._resolve(family, reference, frozenset())

    def _resolve(
        self, family: ModelFamily, reference: str, seen: frozenset[str]
    ) -> tuple[str, DeckModel] | None:
        if reference in seen:  # an alias cycle names no model
            return None
        seen |= {reference}
        kind, name = split_model_reference(reference)
        if kind == "handle":
            model = self.models.get(name)
            if model is not None:
                fits = model.type == family or (
                    family == ModelFamily.JUDGMENT and model.type == ModelFamily.LLM
                )
                return (name, model) if fits else None
            kind = next((label for label, table in self._tables() if name in table.get(family, {})), kind)
        if kind == "waterfall":
            for entry in self.waterfalls.get(family, {}).get(name, []):
                found = self._resolve(family, entry, seen)
                if found is not None:
                    return found
            return None
        table = self.aliases if kind == "alias" else self.presets if kind == "preset" else {}
        target = table.get(family, {}).get(name)
        return None if target is None else self._resolve(family, target, seen)

    def _tables(self) -> list[tuple[str, Mapping[ModelFamily, Mapping[str, object]]]]:
        return [("alias", self.aliases), ("preset", self.presets), ("waterfall", self.waterfalls)]

    def laid_over(self, base: ModelDeck) -> ModelDeck:
        """This deck over `base`: models by handle, and each family's aliases, presets and waterfalls by
        name; where both define a name, this deck's entry wins."""
        return ModelDeck(
            models={**base.models, **self.models},
            aliases=_merged(base.aliases, self.aliases),
            presets=_merged(base.presets, self.presets),
            waterfalls=_merged(base.waterfalls, self.waterfalls),
            provider_rates={**base.provider_rates, **self.provider_rates},
        )

    def broken_references(self) -> list[str]:
        """One sentence per alias, preset or waterfall entry that leads to no model of its family."""
        faults: list[str] = []
        sections = [("aliases", self.aliases), ("presets", self.presets), ("waterfalls", self.waterfalls)]
        for section, table in sections:
            for family, entries in table.items():
                for name, target in entries.items():
                    where = f"[{section}.{family}] {name}"
                    targets = target if isinstance(target, list) else [target]
                    if not targets:
                        faults.append(f"{where} is an empty waterfall")
                    faults += [
                        f"{where} = '{entry}': {self._why_unresolved(family, entry)}"
                        for entry in targets
                        if self.resolve(family, entry) is None
                    ]
        return faults

    def _why_unresolved(self, family: ModelFamily, reference: str) -> str:
        kind, name = split_model_reference(reference)
        model = self.models.get(name) if kind == "handle" else None
        if model is not None:
            return f"'{name}' is a model of type {model.type}, not {family}"
        return f"it leads to no {family} model of the deck (no such model, or a dangling or circular chain)"

    def rate_of(self, handle: str) -> tuple[str, ModelRate] | None:
        """The rate limiting calls to the model `handle` and the name of what it limits (`model-<handle>`,
        or `provider-<provider>` for a provider's shared rate); None when nothing limits it."""
        model = self.models.get(handle)
        if model is None:
            return None
        own = model_rate(model.model_extra, handle)
        if own is not None:
            return f"model-{handle}", own
        shared = self.provider_rates.get(model.provider)
        return (f"provider-{model.provider}", shared) if shared is not None else None

    def rates(self) -> dict[str, tuple[ModelRate, list[str]]]:
        """Every rate of the deck by what it limits, with the handles it limits; `RateError` when a model's
        rate table is unusable."""
        found: dict[str, tuple[ModelRate, list[str]]] = {}
        for handle in self.models:
            limited = self.rate_of(handle)
            if limited is not None:
                key, rate = limited
                found.setdefault(key, (rate, []))[1].append(handle)
        return found

    def names(self, family: ModelFamily) -> list[str]:
        """Every reference a bundle may write for `family`, for suggestions."""
        found = [f"@{name}" for name in self.aliases.get(family, {})]
        found += [f"${name}" for name in self.presets.get(family, {})]
        found += [f"~{name}" for name in self.waterfalls.get(family, {})]
        found += [name for name, model in self.models.items() if model.type == family]
        return found


def _merged(
    base: Mapping[ModelFamily, Mapping[str, _T]], over: Mapping[ModelFamily, Mapping[str, _T]]
) -> dict[ModelFamily, dict[str, _T]]:
    merged = {family: dict(table) for family, table in base.items()}
    for family, table in over.items():
        merged[family] = {**merged.get(family, {}), **table}
    return merged


_SIGILS = {"@": "alias", "$": "preset", "~": "waterfall"}
_PREFIXES = ("alias", "preset", "waterfall", "handle")


def split_model_reference(reference: str) -> tuple[str, str]:
    """`("alias" | "preset" | "waterfall" | "handle", name)` for a model reference."""
    if reference[:1] in _SIGILS:
        return _SIGILS[reference[0]], reference[1:]
    prefix, sep, rest = reference.partition(":")
    if sep and prefix in _PREFIXES:
        return prefix, rest
    return "handle", reference


BUILTIN_DECK_TOML = """
[models.gpt-4o]
type = "llm"
provider = "openai"
model = "gpt-4o"

[models.gpt-4o-mini]
type = "llm"
provider = "openai"
model = "gpt-4o-mini"

[models."gpt-4.1"]
type = "llm"
provider = "openai"
model = "gpt-4.1"

[models.claude-sonnet]
type = "llm"
provider = "anthropic"
model = "claude-sonnet-4-5"

[models.gpt-image-1]
type = "img_gen"
provider = "openai"
model = "gpt-image-1"

[models.pypdf-text]
type = "extract"
provider = "local"
model = "pypdf"

[models.vision-ocr]
type = "extract"
provider = "openai"
model = "gpt-4o"

[models.web-search]
type = "search"
provider = "openai"
model = "gpt-4o-search-preview"

[models.local-pdf]
type = "doc_gen"
provider = "local"
model = "pdf"

[aliases.llm]
default-general = "gpt-4o"
default-premium = "gpt-4.1"
default-small = "gpt-4o-mini"
default-vision = "@default-general"
default-structured = "@default-general"
default-creative = "@default-general"
best-gpt = "gpt-4.1"
best-gpt-vision = "gpt-4.1"
best-gpt-structured = "gpt-4.1"
best-gpt-creative = "gpt-4.1"
best-claude = "claude-sonnet"

[aliases.judgment]
default-judgment = "gpt-4o"
default-judgment-vision = "gpt-4o"

[aliases.extract]
default-extract-document = "pypdf-text"
default-text-from-pdf = "pypdf-text"
default-extract-image = "vision-ocr"
default-no-inference = "pypdf-text"

[aliases.search]
default-search = "web-search"

[aliases.img_gen]
default-general = "gpt-image-1"

[aliases.doc_gen]
default-pdf = "local-pdf"
"""


def builtin_deck() -> ModelDeck:
    """The deck used when `MODEL_DECK` is unset: the reference's aliases that bundles commonly use."""
    return ModelDeck.from_toml(BUILTIN_DECK_TOML)


def service_deck(text: str | None) -> ModelDeck:
    """The deck a service runs with: `text` (a `MODEL_DECK` file's) laid over the built-in deck, or the
    built-in deck alone; `DeckError` when the text is no deck or a reference leads to no model."""
    deck = builtin_deck() if text is None else ModelDeck.from_toml(text).laid_over(builtin_deck())
    faults = deck.broken_references()
    if faults:
        msg = "every alias, preset and waterfall must lead to a model of the deck: " + "; ".join(faults)
        raise DeckError(msg)
    try:
        deck.rates()
    except RateError as exc:
        raise DeckError(str(exc)) from exc
    return deck
