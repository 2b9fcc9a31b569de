"""The model reference check of `GET /v1/models/check`: whether one model reference resolves in the service's
deck, as what, to which model, and what the caller likely meant when it does not. Pure.

A reference resolves in a category exactly when the validator would accept it in a pipe of that category
(`ModelDeck.resolve`), so a `resolved` verdict is one a method may rely on. The answer has the reference's
members (pipelex-api 0.92.2), with two deliberate differences that follow from this service's deck:

- The validator reads a bare name as a model handle, else as an alias, preset or waterfall written without
  its sigil. A bare name the deck reads as one such entry is reported with that `kind` (`default-premium`
  is the alias `@default-premium`), where the reference, which reads bare names as handles only, answers
  `not_found`.
- `resolution` may be `ambiguous` besides `resolved` and `not_found`: a bare name with no `type` that
  stands for different things in different categories (`default-general`, an alias to a text model for
  `llm` and to an image model for `img_gen`) — different kinds of entry, or entries leading to different
  models. `matches` lists every reading and `kind` stays `handle`; a `type` settles it. A name leading to
  the same model everywhere (`gpt-4o`, an `llm` model that also serves `judgment`) is simply `resolved`.

Presets of this deck carry no description: a preset match's `description` is null.
"""

from __future__ import annotations

import difflib
from enum import StrEnum
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from shared.language.model_deck import ModelDeck, ModelFamily

MAX_MODEL_REFERENCE_CHARS: Final = 256
# The order of every list of categories the check returns (the protocol's, then `doc_gen`).
CATEGORY_ORDER: Final = (
    ModelFamily.LLM,
    ModelFamily.EXTRACT,
    ModelFamily.IMG_GEN,
    ModelFamily.SEARCH,
    ModelFamily.JUDGMENT,
    ModelFamily.DOC_GEN,
)
# difflib's similarity ratios and counts, as the reference offers them: looser and more for the
# reference's own kind, since a slip of the name alone is likelier than one of the name and the sigil.
_SAME_KIND_CUTOFF: Final = 0.5
_SAME_KIND_MAX: Final = 5
_CROSS_KIND_CUTOFF: Final = 0.7
_CROSS_KIND_MAX: Final = 3


class ReferenceKind(StrEnum):
    PRESET = "preset"
    ALIAS = "alias"
    WATERFALL = "waterfall"
    HANDLE = "handle"


class Resolution(StrEnum):
    RESOLVED = "resolved"
    NOT_FOUND = "not_found"
    AMBIGUOUS = "ambiguous"


_SIGILS: Final = {"$": ReferenceKind.PRESET, "@": ReferenceKind.ALIAS, "~": ReferenceKind.WATERFALL}
_WRITTEN_SIGIL: Final = {kind: sigil for sigil, kind in _SIGILS.items()}
_NAMESPACES: Final = {f"{kind.value}:": kind for kind in ReferenceKind}
_TABLE_KINDS: Final = (ReferenceKind.ALIAS, ReferenceKind.PRESET, ReferenceKind.WATERFALL)


class ModelReferenceError(ValueError):
    """The text is no model reference: blank, a sigil or namespace alone, or too long."""


class ParsedReference(BaseModel):
    model_config = ConfigDict(frozen=True)

    raw: str
    kind: ReferenceKind
    name: str

    @property
    def is_bare(self) -> bool:
        """Written as a handle (bare or `handle:`): the validator may read it as a sigil-less table entry."""
        return self.kind is ReferenceKind.HANDLE


def parse_reference(text: str) -> ParsedReference:
    """The reference `text` writes (trimmed); `ModelReferenceError` saying why when it writes none."""
    raw = text.strip()
    if not raw:
        msg = "a model reference is required."
        raise ModelReferenceError(msg)
    if len(raw) > MAX_MODEL_REFERENCE_CHARS:
        msg = f"it holds {len(raw)} characters once trimmed, more than the {MAX_MODEL_REFERENCE_CHARS} accepted."
        raise ModelReferenceError(msg)
    kind, name = ReferenceKind.HANDLE, raw
    if raw[0] in _SIGILS:
        kind, name = _SIGILS[raw[0]], raw[1:]
    else:
        for prefix, namespaced in _NAMESPACES.items():
            if raw.startswith(prefix):
                kind, name = namespaced, raw[len(prefix) :]
                break
    if not name.strip():
        msg = f"'{raw}' names no model after its sigil or namespace."
        raise ModelReferenceError(msg)
    return ParsedReference(raw=raw, kind=kind, name=name)


class PresetMatch(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    category: ModelFamily
    resolves_to: str | None = Field(description="The model handle a run through the reference calls.")
    target: str = Field(description="What the deck binds the preset to, as the deck writes it.")
    description: str | None = Field(description="Always null: this service's presets carry none.")


class AliasMatch(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    category: ModelFamily
    resolves_to: str | None
    target: str = Field(description="What the deck binds the alias to, as the deck writes it.")


class WaterfallMatch(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    category: ModelFamily
    resolves_to: str | None
    fallbacks: list[str] = Field(description="The waterfall's steps, in order.")


class HandleMatch(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    category: ModelFamily
    resolves_to: str | None
    via: list[str] = Field(
        description="The presets, aliases and waterfalls of this category binding the handle directly."
    )


ReferenceMatch = PresetMatch | AliasMatch | WaterfallMatch | HandleMatch


class ModelReferenceVerdict(BaseModel):
    """The answer of `GET /v1/models/check`; exactly these members."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reference: str = Field(description="The reference, trimmed.")
    kind: ReferenceKind = Field(description="What the reference names (a bare name: what the deck reads).")
    name: str = Field(description="The reference without its sigil or namespace.")
    category: ModelFamily | None = Field(description="The `type` asked, or null.")
    resolution: Resolution
    matches: list[ReferenceMatch] = Field(description="One entry per category where the reference resolves.")
    suggestions: list[str] = Field(description="On `not_found`: the nearest names, as a method writes them.")
    other_kinds: list[str] = Field(description="On `not_found`: the same name under another kind.")
    other_categories: list[ModelFamily] = Field(
        description="On `not_found` with a `type`: the other categories where the reference resolves."
    )


def check_model_reference(
    deck: ModelDeck, reference: ParsedReference, category: ModelFamily | None
) -> ModelReferenceVerdict:
    """The verdict on `reference` in `category`, or in every category when it is None."""
    in_scope = [category] if category is not None else list(CATEGORY_ORDER)
    readings: list[tuple[ReferenceKind, ReferenceMatch]] = []
    for family in in_scope:
        found = _match(deck, reference, family)
        if found is not None:
            readings.append(found)
    if readings:
        kinds = {entry_kind for entry_kind, _ in readings}
        meanings = {(entry_kind, match.resolves_to) for entry_kind, match in readings}
        ambiguous = reference.is_bare and category is None and len(meanings) > 1
        return ModelReferenceVerdict(
            reference=reference.raw,
            kind=kinds.pop() if len(kinds) == 1 and not ambiguous else reference.kind,
            name=reference.name,
            category=category,
            resolution=Resolution.AMBIGUOUS if ambiguous else Resolution.RESOLVED,
            matches=[match for _, match in readings],
            suggestions=[],
            other_kinds=[],
            other_categories=[],
        )
    suggestions: list[str] = []
    other_kinds: list[str] = []
    for family in in_scope:
        close, same_name = _alternatives(deck, reference, family)
        suggestions += close
        other_kinds += same_name
    other_categories = [
        family
        for family in CATEGORY_ORDER
        if category is not None and family != category and _match(deck, reference, family) is not None
    ]
    return ModelReferenceVerdict(
        reference=reference.raw,
        kind=reference.kind,
        name=reference.name,
        category=category,
        resolution=Resolution.NOT_FOUND,
        matches=[],
        suggestions=list(dict.fromkeys(suggestions)),
        other_kinds=list(dict.fromkeys(other_kinds)),
        other_categories=other_categories,
    )


def _entry_kind(deck: ModelDeck, reference: ParsedReference, family: ModelFamily) -> ReferenceKind | None:
    """Which entry of `family` the reference lands on, read as `ModelDeck.resolve` reads it."""
    if not reference.is_bare:
        return reference.kind if reference.name in _collection(deck, reference.kind, family) else None
    if reference.name in deck.models:
        return (
            ReferenceKind.HANDLE
            if reference.name in _collection(deck, ReferenceKind.HANDLE, family)
            else None
        )
    return next((kind for kind in _TABLE_KINDS if reference.name in _collection(deck, kind, family)), None)


def _match(
    deck: ModelDeck, reference: ParsedReference, family: ModelFamily
) -> tuple[ReferenceKind, ReferenceMatch] | None:
    entry_kind = _entry_kind(deck, reference, family)
    resolved = deck.resolve(family, _written(entry_kind, reference.name)) if entry_kind else None
    if entry_kind is None or resolved is None:
        return None
    name, handle = reference.name, resolved[0]
    match: ReferenceMatch
    if entry_kind is ReferenceKind.PRESET:
        target = deck.presets[family][name]
        match = PresetMatch(category=family, resolves_to=handle, target=target, description=None)
    elif entry_kind is ReferenceKind.ALIAS:
        match = AliasMatch(category=family, resolves_to=handle, target=deck.aliases[family][name])
    elif entry_kind is ReferenceKind.WATERFALL:
        fallbacks = list(deck.waterfalls[family][name])
        match = WaterfallMatch(category=family, resolves_to=handle, fallbacks=fallbacks)
    else:
        match = HandleMatch(category=family, resolves_to=handle, via=_bindings_of(deck, name, family))
    return entry_kind, match


def _collection(deck: ModelDeck, kind: ReferenceKind, family: ModelFamily) -> list[str]:
    """The names `family` holds under `kind`; a handle's are the models serving it (LLMs serve judgment)."""
    if kind is ReferenceKind.HANDLE:
        serving = {family, ModelFamily.LLM} if family is ModelFamily.JUDGMENT else {family}
        return [name for name, model in deck.models.items() if model.type in serving]
    tables = {ReferenceKind.ALIAS: deck.aliases, ReferenceKind.PRESET: deck.presets}
    if kind is ReferenceKind.WATERFALL:
        return list(deck.waterfalls.get(family, {}))
    return list(tables[kind].get(family, {}))


def _bindings_of(deck: ModelDeck, handle: str, family: ModelFamily) -> list[str]:
    """The presets, aliases and waterfalls of `family` whose binding names `handle` as a bare handle."""
    via = [f"${name}" for name, target in deck.presets.get(family, {}).items() if _names(target, handle)]
    via += [f"@{name}" for name, target in deck.aliases.get(family, {}).items() if _names(target, handle)]
    via += [
        f"~{name}"
        for name, steps in deck.waterfalls.get(family, {}).items()
        if any(_names(step, handle) for step in steps)
    ]
    return via


def _names(binding: str, handle: str) -> bool:
    try:
        bound = parse_reference(binding)
    except ModelReferenceError:
        return False
    return bound.kind is ReferenceKind.HANDLE and bound.name == handle


def _alternatives(
    deck: ModelDeck, reference: ParsedReference, family: ModelFamily
) -> tuple[list[str], list[str]]:
    """What the caller likely meant in `family`: close names (own kind first, then other kinds), and the
    same name under another kind."""
    name = reference.name
    own = _collection(deck, reference.kind, family)
    close = [
        _written(reference.kind, match)
        for match in difflib.get_close_matches(name, own, n=_SAME_KIND_MAX, cutoff=_SAME_KIND_CUTOFF)
    ]
    exact: list[str] = []
    for kind in ReferenceKind:
        if kind is reference.kind:
            continue
        candidates = _collection(deck, kind, family)
        if name in candidates:
            exact.append(_written(kind, name))
            continue
        close += [
            _written(kind, match)
            for match in difflib.get_close_matches(
                name, candidates, n=_CROSS_KIND_MAX, cutoff=_CROSS_KIND_CUTOFF
            )
        ]
    return close, exact


def _written(kind: ReferenceKind, name: str) -> str:
    """`name` as a method writes it: a sigil for a table entry, a bare handle unless it would read as
    something else, then `handle:<name>`."""
    if kind is not ReferenceKind.HANDLE:
        return f"{_WRITTEN_SIGIL[kind]}{name}"
    reads_otherwise = name[:1] in _SIGILS or any(name.startswith(prefix) for prefix in _NAMESPACES)
    return f"handle:{name}" if reads_otherwise or name != name.strip() else name
