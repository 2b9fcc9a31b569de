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

from temporalio import activity

from shared.runtime.function_registry import DEFAULT_REGISTRY, pipe_function
from shared.runtime.stuff import Stuff

SLOW = "tests.run_functions.slow_echo"
COUNTED = "tests.run_functions.counted_echo"
FAILING = "tests.run_functions.always_fails"


async def slow_echo(inputs: Mapping[str, Stuff]) -> dict[str, Any]:
    """Sleeps, records that it completed (one line per completed call), echoes its text input."""
    await asyncio.sleep(_slow_seconds())
    text = _text(inputs)
    counter = os.environ.get("COUNTER_FILE")
    if counter:
        await asyncio.to_thread(_append_line, Path(counter), text)
    return {"text": f"{text}+"}


async def counted_echo(inputs: Mapping[str, Stuff]) -> dict[str, Any]:
    """Like `slow_echo`, but each completed call records its text and its activity attempt.

    The attempt tells a legitimate retry (attempt 2+, scheduled only when no earlier attempt was
    recorded as completed) from a re-execution of completed work (a text with attempt 1 twice).
    Outside an activity the attempt is 0.
    """
    await asyncio.sleep(_slow_seconds())
    text = _text(inputs)
    counter = os.environ.get("COUNTER_FILE")
    if counter:
        attempt = activity.info().attempt if activity.in_activity() else 0
        await asyncio.to_thread(_append_line, Path(counter), f"{text}\t{attempt}")
    return {"text": f"{text}+"}


def read_counted(path: Path) -> list[tuple[str, int]]:
    """The `(text, attempt)` lines `counted_echo` wrote, in order; none if the file does not exist yet."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [(text, int(attempt)) for text, _, attempt in (line.rpartition("\t") for line in lines)]


def _slow_seconds() -> float:
    return float(os.environ.get("SLOW_SECONDS", "0.5"))


def _text(inputs: Mapping[str, Stuff]) -> str:
    return next(iter(inputs.values())).content.get("text", "")


def _append_line(path: Path, line: str) -> None:
    # One short write in append mode: lines of concurrent calls never interleave.
    with path.open("a", encoding="utf-8") as stream:
        stream.write(f"{line}\n")


def always_fails(inputs: Mapping[str, Stuff]) -> dict[str, Any]:
    del inputs
    msg = "the ledger is closed"
    raise RuntimeError(msg)


for _name, _function in ((SLOW, slow_echo), (COUNTED, counted_echo), (FAILING, always_fails)):
    if DEFAULT_REGISTRY.get(_name) is None:
        pipe_function(_name)(_function)
