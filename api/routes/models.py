"""`GET /v1/models` and its legacy alias (http-api.md §8.2, §12): the model deck the app was built with;
`GET /v1/models/check` (§11.5): one model reference checked against it.

Read-only: the deck is loaded once at start-up (`MODEL_DECK` or the built-in one), so an answer costs no I/O.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from api.auth import authenticate
from api.deps import ModelDeckDep
from api.problems import request_invalid
from shared.language.model_deck import ModelDeck, ModelFamily
from shared.language.model_reference_check import (
    MAX_MODEL_REFERENCE_CHARS,
    ModelReferenceError,
    ModelReferenceVerdict,
    check_model_reference,
    parse_reference,
)

# Every route here is authenticated (§3b), the legacy alias as its target.
router = APIRouter(tags=["models"], dependencies=[Depends(authenticate)])

# The filter is closed to the protocol's categories (§8.2); `doc_gen` models are listed, not filterable.
FilterCategory = Literal["llm", "extract", "img_gen", "search", "judgment"]


class ModelEntry(BaseModel):
    """One `[models.<name>]` entry of the deck: the handle a bundle names and its category."""

    name: str
    type: str


class ModelListing(BaseModel):
    """The deck: its models, plus the aliases, presets and waterfalls of each category."""

    models: list[ModelEntry]
    aliases: dict[str, dict[str, str]] = Field(description="Alias name → model handle, by category.")
    presets: dict[str, dict[str, str]] = Field(description="Preset name → model handle, by category.")
    waterfalls: dict[str, dict[str, list[str]]] = Field(
        description="Waterfall name → model handles tried in order, by category."
    )


def deck_listing(deck: ModelDeck, category: ModelFamily | None) -> ModelListing:
    """The deck as `/v1/models` answers it, reduced to `category` when one is given."""

    def wanted(family: ModelFamily) -> bool:
        return category is None or family == category

    return ModelListing(
        models=[
            ModelEntry(name=name, type=model.type.value)
            for name, model in deck.models.items()
            if wanted(model.type)
        ],
        aliases={family.value: dict(table) for family, table in deck.aliases.items() if wanted(family)},
        presets={family.value: dict(table) for family, table in deck.presets.items() if wanted(family)},
        waterfalls={
            family.value: {name: list(chain) for name, chain in table.items()}
            for family, table in deck.waterfalls.items()
            if wanted(family)
        },
    )


def _refuse_repeated_type(request: Request) -> None:
    # FastAPI would silently keep the last of several `type` values; the spec refuses them.
    if len(request.query_params.getlist("type")) > 1:
        raise request_invalid(field="type", reason="give at most one category.")


# An unknown value fails FastAPI's check of the literal: 422 `request.invalid` naming `type`.
TypeQuery = Annotated[
    FilterCategory | None,
    Query(alias="type", description="Only the models, aliases, presets and waterfalls of this category."),
]


@router.get("/v1/models", openapi_extra={"x-mthds-protocol": True})
async def models(request: Request, deck: ModelDeckDep, category: TypeQuery = None) -> ModelListing:
    """The model deck bundles may name, optionally reduced to one category (`?type=`)."""
    _refuse_repeated_type(request)
    return deck_listing(deck, None if category is None else ModelFamily(category))


@router.get("/api/v1/models")
async def legacy_models(request: Request, deck: ModelDeckDep, category: TypeQuery = None) -> ModelListing:
    """Legacy alias of `GET /v1/models`."""
    return await models(request, deck, category)


# The check covers `doc_gen` too: a bundle names its models like any other's.
CheckCategory = Literal["llm", "extract", "img_gen", "search", "judgment", "doc_gen"]


@router.get("/v1/models/check")
async def check_model(
    request: Request,
    deck: ModelDeckDep,
    reference: Annotated[
        str,
        Query(
            description=(
                "A model reference as a bundle's `model` field writes it: `$preset`, `@alias`, `~waterfall`, "
                "a bare handle, or `preset:`/`alias:`/`waterfall:`/`handle:` namespaces; trimmed, at most "
                f"{MAX_MODEL_REFERENCE_CHARS} characters."
            )
        ),
    ],
    category: Annotated[
        CheckCategory | None,
        Query(alias="type", description="The category to check in; every category when absent."),
    ] = None,
) -> ModelReferenceVerdict:
    """Check one model reference against the deck: resolved (as what, to which model), not found (with
    suggestions) or ambiguous (a bare name standing for different models; give `type`)."""
    for name in ("reference", "type"):
        # FastAPI would silently keep one of several values; a check is of one reference.
        if len(request.query_params.getlist(name)) > 1:
            raise request_invalid(field=name, reason="give a single value.")
    try:
        parsed = parse_reference(reference)
    except ModelReferenceError as exc:
        raise request_invalid(field="reference", reason=str(exc)) from exc
    return check_model_reference(deck, parsed, None if category is None else ModelFamily(category))
