"""PipeFunc: call a function of the registry with the pipe's inputs and normalise what it returns."""

from __future__ import annotations

import copy
import inspect
from dataclasses import replace
from typing import Any, cast

from pydantic import BaseModel

from shared.language.pipe_blueprints import PipeFunc
from shared.runtime.function_registry import FunctionRegistry
from shared.runtime.json_values import as_list, as_mapping
from shared.runtime.operator_call import OperatorCall, Produced
from shared.runtime.run_failure import FailureCode, PipeRunError


async def run_function(call: OperatorCall, registry: FunctionRegistry) -> Produced:
    """The function's answer as the call's output content; every failure is a typed `PipeRunError`."""
    blueprint = call.pipe.blueprint
    if not isinstance(blueprint, PipeFunc):
        msg = f"pipe '{call.pipe.code}' is not a PipeFunc"
        raise TypeError(msg)
    name = blueprint.function_name
    function = registry.get(name)
    if function is None:
        raise PipeRunError(
            FailureCode.FUNCTION_INVALID,
            f"function '{name}' is not registered with this service",
            params={"function": name},
        )
    try:
        # A copy: stored contents are shared between memories and never change once stored.
        result = function(
            {
                name: replace(stuff, content=copy.deepcopy(stuff.content))
                for name, stuff in call.inputs.items()
            }
        )
        if inspect.isawaitable(result):
            result = await cast("Any", result)
    except PipeRunError:
        raise
    except Exception as exc:
        # User code may raise anything; the run fails typed, naming the function, never with a raw traceback.
        raise PipeRunError(
            FailureCode.FUNCTION_FAILED,
            f"function '{name}' raised {type(exc).__name__}: {exc}",
            params={"function": name},
        ) from exc
    if call.output.is_list:
        fields = as_mapping(result)
        items = as_list(fields.get("items") if fields is not None else result)
        if items is None:
            raise PipeRunError(
                FailureCode.OUTPUT_INVALID,
                f"function '{name}' must return a list for the output {call.output.describe()}",
            )
        return Produced.of_items([_plain(item) for item in items])
    return Produced(_plain(result))


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value
