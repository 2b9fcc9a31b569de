"""What a PipeFunc function may read of the run it serves, beside its inputs: the model deck.

The operator executor sets it around each function call (worker/operators/local.py), so a function
that validates methods (the Pipe Builder's check) validates them against the deck the run resolves
its models in. Outside a call, the built-in deck.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import contextmanager
from contextvars import ContextVar

from shared.language.model_deck import ModelDeck, builtin_deck

_DECK: ContextVar[ModelDeck | None] = ContextVar("methodflow_function_deck", default=None)


@contextmanager
def function_deck(deck: ModelDeck | None) -> Generator[None]:
    """Functions called inside this block see `deck` (None: the built-in deck)."""
    token = _DECK.set(deck)
    try:
        yield
    finally:
        _DECK.reset(token)


def current_deck() -> ModelDeck:
    """The deck of the run a function serves, or the built-in deck."""
    return _DECK.get() or builtin_deck()
