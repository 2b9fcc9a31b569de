"""PipeFunc functions the run tests call: slow ones (to be cancelled, timed out, killed) and one that fails.

Registered on import (`FUNCTION_MODULES=tests.helpers.run_functions` does it in a worker process).
`SLOW_SECONDS` and `COUNTER_FILE` come from the environment, so a worker subprocess can be steered.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shared.runtime.function_registry import DEFAULT_REGISTRY, pipe_function
from shared.runtime.stuff import Stuff

SLOW = "tests.run_functions.slow_echo"
FAILING = "tests.run_functions.always_fails"


async def slow_echo(inputs: Mapping[str, Stuff]) -> dict[str, Any]:
    """Sleeps, records that it completed (one line per completed call), echoes its text input."""
    await asyncio.sleep(float(os.environ.get("SLOW_SECONDS", "0.5")))
    text = next(iter(inputs.values())).content.get("text", "")
    counter = os.environ.get("COUNTER_FILE")
    if counter:
        await asyncio.to_thread(_append_line, Path(counter), text)
    return {"text": f"{text}+"}


def _append_line(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as stream:
        stream.write(f"{text}\n")


def always_fails(inputs: Mapping[str, Stuff]) -> dict[str, Any]:
    del inputs
    msg = "the ledger is closed"
    raise RuntimeError(msg)


for _name, _function in ((SLOW, slow_echo), (FAILING, always_fails)):
    if DEFAULT_REGISTRY.get(_name) is None:
        pipe_function(_name)(_function)
