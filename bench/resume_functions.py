"""The PipeFunc function of the resume benchmark: a model call's wait, a count of calls, an outage.

Registered on import (`FUNCTION_MODULES=bench.resume_functions`). Each call waits `BENCH_LATENCY_MS`
(default 50), appends its item to `RESUME_CALLS_FILE` (the benchmark's count of calls made), and fails
for good while the file `RESUME_OUTAGE_FILE` exists and the item's number is `RESUME_FAIL_FROM` or more:
the outage the benchmark's failed run meets and its resumed run no longer does.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shared.runtime.function_registry import DEFAULT_REGISTRY, pipe_function
from shared.runtime.stuff import Stuff

FLAKY_ECHO = "bench.resume_functions.flaky_echo"
CALLS_ENV = "RESUME_CALLS_FILE"
OUTAGE_ENV = "RESUME_OUTAGE_FILE"
FAIL_FROM_ENV = "RESUME_FAIL_FROM"


def item_number(text: str) -> int:
    """The number in an item's text (`item-000042` is 42)."""
    return int(text.rpartition("-")[2])


async def flaky_echo(inputs: Mapping[str, Stuff]) -> dict[str, Any]:
    text = str(next(iter(inputs.values())).content.get("text", ""))
    await asyncio.sleep(float(os.environ.get("BENCH_LATENCY_MS", "50")) / 1000)
    if await asyncio.to_thread(_count_and_check_outage, text):
        msg = f"the provider is down for {text}"
        raise RuntimeError(msg)
    return {"text": f"{text}+"}


def _count_and_check_outage(text: str) -> bool:
    """Count the call; whether the outage refuses it."""
    calls = os.environ.get(CALLS_ENV)
    if calls:
        with Path(calls).open("a", encoding="utf-8") as stream:
            stream.write(f"{text}\n")
    outage = os.environ.get(OUTAGE_ENV)
    return (
        bool(outage)
        and Path(str(outage)).exists()
        and item_number(text) >= int(os.environ.get(FAIL_FROM_ENV, "0"))
    )


if DEFAULT_REGISTRY.get(FLAKY_ECHO) is None:
    pipe_function(FLAKY_ECHO)(flaky_echo)
