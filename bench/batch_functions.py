"""The PipeFunc function of the batch benchmark: waits a simulated latency, then echoes its item.

Registered on import; `FUNCTION_MODULES=bench.batch_functions` loads it in the API (which validates
`function_name`) and in the worker processes (which call it). `BENCH_LATENCY_MS` (default 50) is the wait.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from typing import Any

from shared.runtime.function_registry import DEFAULT_REGISTRY, pipe_function
from shared.runtime.stuff import Stuff

SLOW_ECHO = "bench.batch_functions.slow_echo"
LATENCY_ENV = "BENCH_LATENCY_MS"


def echoed(text: str) -> str:
    """What `slow_echo` answers for `text`: the benchmark checks every item's output against it."""
    return f"{text}+"


async def slow_echo(inputs: Mapping[str, Stuff]) -> dict[str, Any]:
    """Sleeps `BENCH_LATENCY_MS` (a model call's wait, without its CPU), then appends one `+`."""
    await asyncio.sleep(float(os.environ.get(LATENCY_ENV, "50")) / 1000)
    return {"text": echoed(next(iter(inputs.values())).content.get("text", ""))}


if DEFAULT_REGISTRY.get(SLOW_ECHO) is None:
    pipe_function(SLOW_ECHO)(slow_echo)
