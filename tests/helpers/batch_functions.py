"""PipeFunc functions the batch failure tests call: one that fails or holds the items they mark, one that
splits a group into three items. Registered on import, like `tests.helpers.run_functions`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from shared.runtime.function_registry import DEFAULT_REGISTRY, pipe_function
from shared.runtime.stuff import Stuff

MARKED = "tests.batch_functions.fails_marked"
SPLIT = "tests.batch_functions.split_in_three"
# An item held this long is still running when the test is over: only a cancel ends it sooner.
HOLD_SECONDS = 60


async def fails_marked(inputs: Mapping[str, Stuff]) -> dict[str, Any]:
    """`bad…` fails, `hold…` waits (until cancelled), anything else is echoed at once."""
    text = _text(inputs)
    if text.startswith("bad"):
        msg = f"the item {text} is marked bad"
        raise ValueError(msg)
    if text.startswith("hold"):
        await asyncio.sleep(HOLD_SECONDS)
    return {"text": f"{text}+"}


def split_in_three(inputs: Mapping[str, Stuff]) -> list[dict[str, Any]]:
    text = _text(inputs)
    return [{"text": f"{text}-{number}"} for number in range(1, 4)]


def _text(inputs: Mapping[str, Stuff]) -> str:
    return next(iter(inputs.values())).content.get("text", "")


for _name, _function in ((MARKED, fails_marked), (SPLIT, split_in_three)):
    if DEFAULT_REGISTRY.get(_name) is None:
        pipe_function(_name)(_function)
