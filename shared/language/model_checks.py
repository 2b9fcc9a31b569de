"""The validator's model checks: every model a pipe will call, named or implicit, is one the deck serves.
Pure.

A pipe's choice is read as the worker reads it (`model_choice.py`), and resolved as the worker resolves
it (`ModelDeck.resolve`), against the deck the service runs with: a valid verdict means the run finds
its models.
"""

from __future__ import annotations

from shared.language.check_context import CheckContext
from shared.language.issues import ErrorType
from shared.language.library import PipeEntry
from shared.language.model_choice import ModelNeed, llm_asks_structure, model_needs
from shared.language.pipe_blueprints import PipeLLM


def check_models(context: CheckContext, entry: PipeEntry) -> None:
    """Report `unknown_model` for each model `entry` calls that the deck cannot serve."""
    blueprint = entry.blueprint
    structured = None
    if isinstance(blueprint, PipeLLM):
        spec, concept = context.contract(entry).output
        structured = llm_asks_structure(context.library, spec, concept)
    for need in model_needs(blueprint, structured=structured):
        if need.resolve(context.deck) is None:
            _report(context, entry, need)


def _report(context: CheckContext, entry: PipeEntry, need: ModelNeed) -> None:
    family, reference = need.candidates[0]
    if need.named:
        message = f"Pipe '{entry.code}' names the model '{reference}', which the {family} deck cannot serve."
    else:
        tried = " then ".join(f"'{name}' ({kind})" for kind, name in need.candidates)
        message = (
            f"Pipe '{entry.code}' names no model, so it runs on the deck's default {tried}, and the deck "
            "serves none of them: name a model in the pipe, or define that alias in the model deck."
        )
    context.report(
        entry,
        ErrorType.UNKNOWN_MODEL,
        message,
        need.attribute,
        params={"model_reference": reference, "model_type": family.value, "implicit": not need.named},
    )
