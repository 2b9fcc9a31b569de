"""The PipeFunc function of the runs benchmark: trivial and fast, so the figures measure the runtime.

Registered on import; `FUNCTION_MODULES=bench.run_functions` loads it in the API (which validates
`function_name`) and in the worker processes (which call it), started from the repo root.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.runtime.function_registry import DEFAULT_REGISTRY, pipe_function
from shared.runtime.stuff import Stuff

BUMP = "bench.run_functions.bump"


def bump(inputs: Mapping[str, Stuff]) -> dict[str, Any]:
    """Appends one `+` to the text input."""
    text = next(iter(inputs.values())).content.get("text", "")
    return {"text": f"{text}+"}


if DEFAULT_REGISTRY.get(BUMP) is None:
    pipe_function(BUMP)(bump)
