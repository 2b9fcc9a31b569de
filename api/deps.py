"""`Annotated` dependencies of the routes: the settings and model deck the app was built with, the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.auth import Caller, authenticate
from api.settings import ApiSettings
from api.temporal_gateway import TemporalGateway
from api.validation_cache import ValidationCache
from shared.language.model_deck import ModelDeck


# The readers of `app.state` are `async def`: FastAPI runs a plain `def` dependency on a worker thread,
# and those hops cost more than the attribute reads themselves (three per `/v1/start`, profiled).
async def _settings(request: Request) -> ApiSettings:
    # Read from the app, not `get_settings()`: tests build apps with their own settings.
    settings: ApiSettings = request.app.state.settings
    return settings


async def _model_deck(request: Request) -> ModelDeck:
    deck: ModelDeck = request.app.state.model_deck
    return deck


async def _validation_cache(request: Request) -> ValidationCache:
    cache: ValidationCache = request.app.state.validation_cache
    return cache


async def _gateway(request: Request) -> TemporalGateway:
    gateway: TemporalGateway = request.app.state.temporal
    return gateway


GatewayDep = Annotated[TemporalGateway, Depends(_gateway)]
SettingsDep = Annotated[ApiSettings, Depends(_settings)]
ModelDeckDep = Annotated[ModelDeck, Depends(_model_deck)]
ValidationCacheDep = Annotated[ValidationCache, Depends(_validation_cache)]
# The authenticated caller (§3b): 401 / 500 before the route's body is read.
CallerDep = Annotated[Caller, Depends(authenticate)]


def public_origin(request: Request, settings: ApiSettings) -> str:
    """Where the service's own URLs point: `PUBLIC_BASE_URL`, else the origin of this request (§10.2)."""
    return settings.public_base_url or str(request.base_url).rstrip("/")
