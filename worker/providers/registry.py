"""Which `ChatProvider` serves a deck model: one client per provider name, built at first use.

A deck model whose provider is unknown here, or whose provider has no key configured, is
`model.unavailable` (an operator fault: retrying cannot help). Clients are closed with `aclose`.
The provider SDKs are imported when a first client is built: reading the settings (the command line
does) must not cost their seconds of import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.language.model_deck import DeckModel
from shared.runtime.run_failure import FailureCode, PipeRunError
from worker.providers.chat import ChatProvider

if TYPE_CHECKING:
    from worker.providers.anthropic_provider import AnthropicChatProvider
    from worker.providers.openai_provider import OpenAIChatProvider

OPENAI = "openai"
ANTHROPIC = "anthropic"
# Deck provider names served by the OpenAI-compatible client (OPENAI_BASE_URL picks the server).
OPENAI_NAMES = frozenset({OPENAI, "openai_compatible"})
KEY_VARIABLES = {OPENAI: "OPENAI_API_KEY", ANTHROPIC: "ANTHROPIC_API_KEY"}


class ProviderRegistry:
    """The worker's chat providers, keyed by deck provider name."""

    def __init__(
        self,
        *,
        openai_api_key: str | None = None,
        openai_base_url: str | None = None,
        anthropic_api_key: str | None = None,
        anthropic_base_url: str | None = None,
    ) -> None:
        self._keys = {OPENAI: openai_api_key, ANTHROPIC: anthropic_api_key}
        self._base_urls = {OPENAI: openai_base_url, ANTHROPIC: anthropic_base_url}
        self._clients: dict[str, OpenAIChatProvider | AnthropicChatProvider] = {}

    def provider_for(self, model: DeckModel) -> ChatProvider:
        """The provider serving `model`; `PipeRunError(model.unavailable)` when none can."""
        kind = OPENAI if model.provider in OPENAI_NAMES else model.provider
        params = {"provider": model.provider, "model": model.model}
        if kind not in KEY_VARIABLES:
            msg = f"the worker has no client for provider '{model.provider}' (model '{model.model}')"
            raise PipeRunError(FailureCode.MODEL_UNAVAILABLE, msg, params=params)
        client = self._clients.get(kind)
        if client is not None:
            return client
        key = self._keys[kind]
        if not key:
            msg = (
                f"model '{model.model}' needs provider '{model.provider}', and {KEY_VARIABLES[kind]} "
                f"is not set on the worker"
            )
            raise PipeRunError(FailureCode.MODEL_UNAVAILABLE, msg, params=params)
        self._clients[kind] = built = _client(kind, key, self._base_urls[kind])
        return built

    def openai_for(self, model: DeckModel) -> OpenAIChatProvider:
        """The OpenAI-compatible provider serving `model` (images, search); `model.unavailable` when the
        model's provider is not OpenAI-compatible or has no key."""
        from worker.providers.openai_provider import OpenAIChatProvider

        provider = self.provider_for(model)
        if not isinstance(provider, OpenAIChatProvider):
            msg = f"model '{model.model}' needs an OpenAI-compatible provider, not '{model.provider}'"
            raise PipeRunError(
                FailureCode.MODEL_UNAVAILABLE, msg, params={"provider": model.provider, "model": model.model}
            )
        return provider

    async def aclose(self) -> None:
        """Close every client built so far."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()


def _client(kind: str, key: str, base_url: str | None) -> OpenAIChatProvider | AnthropicChatProvider:
    # Imported here, not at the top: see the module docstring.
    if kind == OPENAI:
        from worker.providers.openai_provider import OpenAIChatProvider

        return OpenAIChatProvider(key, base_url)
    from worker.providers.anthropic_provider import AnthropicChatProvider

    return AnthropicChatProvider(key, base_url)
