"""The builder's method as a run request: `builder.mthds` with the chosen model, and the brief as inputs.

The bundle ships inside the package (it is read with `importlib.resources`), so a build runs the same
method in every deployment; only the model reference changes, written into the bundle's PipeLLM pipes.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any, Final

BUILDER_PIPE: Final = "methodflow_builder.build_pipeline"
BUILDER_DOMAIN: Final = "methodflow_builder"
_MODEL_PLACEHOLDER: Final = '"__BUILDER_MODEL__"'


@cache
def builder_template() -> str:
    """The text of `builder.mthds`, with its model placeholder."""
    return files("shared.builder").joinpath("builder.mthds").read_text(encoding="utf-8")


def builder_bundle(model: str) -> str:
    """The builder's bundle whose model calls use `model` (any deck reference: name, `@alias`, `$preset`)."""
    # A JSON string is a valid TOML basic string: quotes and backslashes in the reference stay inert.
    return builder_template().replace(_MODEL_PLACEHOLDER, json.dumps(model))


def brief_inputs(
    *,
    brief: str,
    domain: str | None,
    output_description: str | None,
    example_inputs: dict[str, Any] | None,
    max_repairs: int,
) -> dict[str, Any]:
    """The run's `inputs`: the brief as the builder's `BuildBrief` concept."""
    return {
        "request": {
            "concept": f"{BUILDER_DOMAIN}.BuildBrief",
            "content": {
                "brief": brief,
                "domain": domain or "",
                "output_description": output_description or "",
                "example_inputs": json.dumps(example_inputs, ensure_ascii=False) if example_inputs else "",
                "max_repairs": max_repairs,
            },
        }
    }
