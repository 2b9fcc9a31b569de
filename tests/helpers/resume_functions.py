"""The PipeFunc function the resume tests call: it records every call it completes, and fails the items a
"broken" file lists, so a test can fail a run at an item, fix the cause, and resume it.

Registered on import, like `tests.helpers.run_functions`. The files come from the environment
(`RESUME_CALLS_FILE`, `RESUME_BROKEN_FILE`): the function's code, and so its memo key, is the same
whether it is broken or fixed, exactly as when a provider outage passes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shared.runtime.function_registry import DEFAULT_REGISTRY, pipe_function
from shared.runtime.stuff import Stuff

RECORDED = "tests.resume_functions.recorded_echo"


def recorded_echo(inputs: Mapping[str, Stuff]) -> dict[str, Any]:
    """Fails when its text is listed in the broken file; else records its text and echoes it."""
    text = next(iter(inputs.values())).content.get("text", "")
    broken = os.environ.get("RESUME_BROKEN_FILE")
    if broken and Path(broken).exists() and text in Path(broken).read_text(encoding="utf-8").split():
        msg = f"the item {text} meets a broken dependency"
        raise RuntimeError(msg)
    calls = os.environ.get("RESUME_CALLS_FILE")
    if calls:
        # One short write in append mode: lines of concurrent calls never interleave.
        with Path(calls).open("a", encoding="utf-8") as stream:
            stream.write(f"{text}\n")
    return {"text": f"{text}+"}


def recorded_calls(path: Path) -> list[str]:
    """The texts `recorded_echo` completed, in order; none when it recorded nothing yet."""
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


if DEFAULT_REGISTRY.get(RECORDED) is None:
    pipe_function(RECORDED)(recorded_echo)
