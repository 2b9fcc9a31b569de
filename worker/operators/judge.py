"""PipeJudge for real (mthds.md §2.5): the evidence prompt and the closed question(s) rendered, image inputs
attached, one structured call to the deck's judgment model, its answer turned into verdict natives
(`judge_verdicts.py`), one repair round before `model.output_schema_mismatch`.

The model is the pipe's `model` (a judgment reference; the deck's LLM handles serve the judgment family
too), else the deck's `@default-judgment`, else its LLM `@default-structured`.
"""

from __future__ import annotations

from shared.language.model_choice import DEFAULT_FOR_OBJECT, DEFAULT_JUDGMENT
from shared.language.model_deck import DeckModel, ModelDeck, ModelFamily
from shared.language.pipe_blueprints import PipeJudge
from shared.runtime.content_values import ContentValidator
from shared.runtime.operator_call import OperatorCall, Produced
from shared.runtime.operator_prompts import render_operator_templates
from shared.runtime.run_failure import FailureCode, PipeRunError
from worker.operators.attachments import image_parts
from worker.operators.context import OperatorContext
from worker.operators.judge_verdicts import SINGLE, SYSTEM_PROMPT, Judgment, question_of
from worker.operators.model_calls import CHAT_TIMEOUT_SECONDS, call_timeout, deck_extra, resolve_model
from worker.operators.structured_output import StructuredCaller, parse_json
from worker.providers.chat import ChatRequest


async def run_judge(call: OperatorCall, context: OperatorContext) -> Produced:
    """The call's verdict(s) from its model; failures raise a typed `PipeRunError`."""
    blueprint = call.pipe.blueprint
    if not isinstance(blueprint, PipeJudge):
        msg = f"run_judge runs PipeJudge pipes, not {blueprint.type}"
        raise TypeError(msg)
    rendered = render_operator_templates(call, context.views)
    judgment = _judgment(blueprint, rendered)
    chosen = blueprint.model if isinstance(blueprint.model, str | None) else blueprint.model.model
    handle, model = judge_model(context.deck, chosen)
    request = ChatRequest(
        model=model.model,
        user=judgment.prompt(rendered.get("prompt", "")),
        system=SYSTEM_PROMPT,
        images=await image_parts(call, context.library, context.files),
        json_schema=judgment.schema(),
        schema_name="judgment",
        extra=deck_extra(model),
        timeout_seconds=call_timeout(model, CHAT_TIMEOUT_SECONDS),
    )
    caller = StructuredCaller(
        call, context.providers.provider_for(model), handle, model, ModelFamily.JUDGMENT, "judgment"
    )
    validator = ContentValidator(context.library)

    def parse(text: str) -> Produced:
        return Produced(validator.validate(call.output.concept, judgment.verdicts(parse_json(text))))

    return await caller.ask_structured(request, parse)


def judge_model(deck: ModelDeck, chosen: str | None) -> tuple[str, DeckModel]:
    """The handle and model judging: `chosen` in the judgment family, else the judgment then LLM defaults."""
    if chosen is not None:
        return resolve_model(deck, ModelFamily.JUDGMENT, chosen, [])
    found = deck.resolve(ModelFamily.JUDGMENT, DEFAULT_JUDGMENT)
    if found is not None:
        return found
    try:
        return resolve_model(deck, ModelFamily.LLM, None, [DEFAULT_FOR_OBJECT])
    except PipeRunError as exc:
        msg = f"the model deck has neither a judgment '{DEFAULT_JUDGMENT}' nor an llm '{DEFAULT_FOR_OBJECT}' model"
        raise PipeRunError(
            FailureCode.MODEL_UNKNOWN, msg, params={"model": DEFAULT_JUDGMENT, "family": "judgment"}
        ) from exc


def _judgment(blueprint: PipeJudge, rendered: dict[str, str]) -> Judgment:
    if blueprint.questions is None:
        question = question_of(
            rendered.get(SINGLE, ""),
            options=blueprint.options,
            levels=blueprint.levels,
            criteria=blueprint.criteria,
            threshold=blueprint.threshold,
        )
        return Judgment({SINGLE: question}, single=True)
    return Judgment(
        {
            name: question_of(
                rendered.get(f"questions.{name}.question", ""),
                options=asked.options,
                levels=asked.levels,
                criteria=asked.criteria,
                threshold=asked.threshold,
            )
            for name, asked in blueprint.questions.items()
        },
        single=False,
    )
