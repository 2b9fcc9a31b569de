"""PipeStructure for real (mthds.md §2.4): its one text input turned into the output concept's JSON by one
structured generation, checked as the interpreter checks contents, with one repair round before
`model.output_schema_mismatch`. A list output (`X[]`, `X[N]`) is asked for as `{"items": [...]}`.

The call, its usage records and the repair round are `structured_output.StructuredCaller`'s.
"""

from __future__ import annotations

from typing import Final, cast

from shared.language.model_choice import llm_defaults
from shared.language.model_deck import ModelFamily
from shared.language.pipe_blueprints import LLMSetting, PipeStructure
from shared.runtime.content_values import ContentValidator
from shared.runtime.operator_call import OperatorCall, Produced
from shared.runtime.run_failure import FailureCode, PipeRunError
from worker.operators.context import OperatorContext
from worker.operators.model_calls import (
    CHAT_TIMEOUT_SECONDS,
    call_timeout,
    deck_extra,
    resolve_model,
    sampling,
)
from worker.operators.structured_output import StructuredCaller, output_schema, parsed_output
from worker.providers.chat import ChatRequest

# The reference's `structuring_prompt` (pipelex 0.92.2 config), the schema travelling as the response format.
STRUCTURING_PROMPT: Final = (
    "Read the following text carefully and produce the requested structured output from it.\n\n---\n{text}\n"
)


async def run_structure(call: OperatorCall, context: OperatorContext) -> Produced:
    """The call's output structured from its text input; failures raise a typed `PipeRunError`."""
    blueprint = call.pipe.blueprint
    if not isinstance(blueprint, PipeStructure):
        msg = f"run_structure runs PipeStructure pipes, not {blueprint.type}"
        raise TypeError(msg)
    if len(call.inputs) != 1:
        msg = f"a PipeStructure structures exactly one text input, and this call has {len(call.inputs)}"
        raise PipeRunError(FailureCode.INPUT_MISMATCH, msg, params={"inputs": sorted(call.inputs)})
    (stuff,) = call.inputs.values()
    setting = blueprint.model if isinstance(blueprint.model, LLMSetting) else None
    chosen = setting.model if setting is not None else cast("str | None", blueprint.model)
    handle, model = resolve_model(context.deck, ModelFamily.LLM, chosen, list(llm_defaults(structured=True)))
    temperature, max_tokens = sampling(setting)
    request = ChatRequest(
        model=model.model,
        user=STRUCTURING_PROMPT.format(text=str(context.views.view(stuff))),
        json_schema=output_schema(context.library, call.output),
        temperature=temperature,
        max_tokens=max_tokens,
        extra=deck_extra(model),
        timeout_seconds=call_timeout(model, CHAT_TIMEOUT_SECONDS),
    )
    caller = StructuredCaller(
        call, context.providers.provider_for(model), handle, model, ModelFamily.LLM, "llm_object"
    )
    validator = ContentValidator(context.library)
    return await caller.ask_structured(request, lambda text: parsed_output(validator, call.output, text))
