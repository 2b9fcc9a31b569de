"""PipeFunc functions that make and join large texts, to push run steps against Temporal's payload limit.

Registered on import, like `run_functions`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.runtime.function_registry import DEFAULT_REGISTRY, pipe_function
from shared.runtime.stuff import Stuff

MAKE = "tests.big_functions.make_text"
JOIN = "tests.big_functions.join_texts"
COUNT = "tests.big_functions.count_items"


def make_text(inputs: Mapping[str, Stuff]) -> dict[str, Any]:
    """A text of as many characters as the `size` input says."""
    return {"text": "x" * int(inputs["size"].content["text"])}


def join_texts(inputs: Mapping[str, Stuff]) -> dict[str, Any]:
    return {"text": "".join(stuff.content["text"] for stuff in inputs.values())}


def count_items(inputs: Mapping[str, Stuff]) -> dict[str, Any]:
    """How many items the one list input holds (the activity reads a stored list back in full)."""
    return {"text": str(len(next(iter(inputs.values())).items()))}


for _name, _function in ((MAKE, make_text), (JOIN, join_texts), (COUNT, count_items)):
    if DEFAULT_REGISTRY.get(_name) is None:
        pipe_function(_name)(_function)
