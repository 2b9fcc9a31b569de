"""The registry of PipeFunc functions: only functions registered here can run (mthds.md §2.10).

A bundle's `function_name` is looked up, never imported: an unknown name is a validation error.
Functions register with the `@pipe_function()` decorator or through the `methodflow.functions`
entry-point group of an installed package. Discovering entry points reads installed package metadata,
so `load_entry_points` is called once at process start-up (API, worker, CLI), never from workflow code.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any, Final, TypeVar

from shared.runtime.stuff import Stuff

ENTRY_POINT_GROUP: Final = "methodflow.functions"

# A PipeFunc function takes the pipe's present inputs by name and returns the output content
# (a dict, a pydantic model, or a list of those for a list output); it may be `async`.
PipeFunction = Callable[[Mapping[str, Stuff]], Any]
_F = TypeVar("_F", bound=PipeFunction)


class FunctionRegistryError(ValueError):
    """A registration that would make lookups ambiguous or unsafe."""


class FunctionRegistry:
    """Dotted function names → callables."""

    def __init__(self) -> None:
        self._functions: dict[str, PipeFunction] = {}

    def register(self, name: str, function: PipeFunction) -> None:
        segments = name.split(".")
        if len(segments) < 2 or not all(segment.isidentifier() for segment in segments):
            msg = f"function name {name!r} must be a dotted path such as 'package.module.function'"
            raise FunctionRegistryError(msg)
        existing = self._functions.get(name)
        if existing is not None and existing is not function:
            msg = f"function name {name!r} is already registered to another function"
            raise FunctionRegistryError(msg)
        if not callable(function) or len(inspect.signature(function).parameters) != 1:
            msg = f"function {name!r} must take exactly one parameter, the working memory"
            raise FunctionRegistryError(msg)
        self._functions[name] = function

    def get(self, name: str) -> PipeFunction | None:
        return self._functions.get(name)

    def names(self) -> frozenset[str]:
        return frozenset(self._functions)


DEFAULT_REGISTRY: Final = FunctionRegistry()


def pipe_function(
    name: str | None = None, *, registry: FunctionRegistry = DEFAULT_REGISTRY
) -> Callable[[_F], _F]:
    """Register the decorated function under `name` (default: `module.qualname`)."""

    def decorate(function: _F) -> _F:
        registry.register(name or f"{function.__module__}.{function.__qualname__}", function)
        return function

    return decorate


def load_entry_points(
    registry: FunctionRegistry = DEFAULT_REGISTRY, group: str = ENTRY_POINT_GROUP
) -> list[str]:
    """Register every function of the entry-point group (name = entry point name); returns the names."""
    loaded: list[str] = []
    for point in entry_points(group=group):
        registry.register(point.name, point.load())
        loaded.append(point.name)
    return loaded


def load_function_modules(spec: str | None) -> list[str]:
    """Import the comma-separated modules of `FUNCTION_MODULES`, whose `@pipe_function`s register
    themselves; returns the module names. Called at process start-up, like `load_entry_points`.
    """
    names = [name.strip() for name in (spec or "").split(",") if name.strip()]
    for name in names:
        import_module(name)
    return names
