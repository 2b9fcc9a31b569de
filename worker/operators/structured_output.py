"""Structured outputs of model calls, shared by PipeLLM, PipeStructure and PipeJudge: the JSON Schema asked
for (lists wrapped as `{"items": [...]}`), the answer parsed and checked as the interpreter checks
contents, and `StructuredCaller`, one pipe's calls to one model, each leaving its usage record, with
one repair round before `model.output_schema_mismatch`.

The mismatch is not retried by the activity: the repair round was the retry, and another attempt would
only pay twice more for the same model's same mistake.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any, Final, cast

from shared.language.content_schema import concept_json_schema
from shared.language.library import Library
from shared.language.model_deck import DeckModel, ModelFamily
from shared.runtime.content_values import ContentRefused, ContentValidator
from shared.runtime.operator_call import OperatorCall, OutputTarget, Produced
from shared.runtime.run_failure import FailureCode, PipeRunError
from shared.runtime.usage import UsageRecord
from worker.operators.model_calls import chat, chat_usage, now
from worker.providers.chat import ChatAnswer, ChatProvider, ChatRequest

_ANSWER_EXCERPT: Final = 2000  # how much of a refused answer the repair request quotes


@dataclasses.dataclass
class StructuredCaller:
    """One pipe's calls to one model, each leaving its usage record."""

    call: OperatorCall
    provider: ChatProvider
    handle: str
    model: DeckModel
    family: ModelFamily
    job_category: str
    usages: list[UsageRecord] = dataclasses.field(default_factory=list[UsageRecord])

    async def ask(self, request: ChatRequest, unit_job_id: str) -> ChatAnswer:
        started = now()
        answer = await chat(self.provider, request, self.handle, self.model)
        self.usages.append(
            chat_usage(
                answer,
                family=self.family,
                handle=self.handle,
                model=self.model,
                pipe_code=self.call.pipe.code,
                job_category=self.job_category,
                unit_job_id=unit_job_id,
                started_at=started,
            )
        )
        return answer

    async def ask_structured(self, request: ChatRequest, parse: Callable[[str], Produced]) -> Produced:
        """`parse` of the model's answer (a `ValueError` refuses it), asking once more with the refusal
        quoted; `model.output_schema_mismatch` when the repaired answer is refused too."""
        answer = await self.ask(request, "generation")
        try:
            return self._with_usages(parse(answer.texts[0]))
        except ValueError as first:
            repair = (
                f"{request.user}\n\nYour previous answer was refused: {first}\n"
                f"Previous answer: {answer.texts[0][:_ANSWER_EXCERPT]}\n"
                "Answer again with only a JSON document that follows the given JSON Schema exactly."
            )
            retried = await self.ask(dataclasses.replace(request, user=repair), "repair")
            try:
                return self._with_usages(parse(retried.texts[0]))
            except ValueError as second:
                msg = (
                    f"the answer of model '{self.handle}' did not fit "
                    f"'{self.call.output.describe()}' after one repair: {second}"
                )
                raise PipeRunError(
                    FailureCode.OUTPUT_SCHEMA_MISMATCH, msg, params={"model": self.handle}
                ) from second

    def _with_usages(self, produced: Produced) -> Produced:
        return dataclasses.replace(produced, usages=tuple(self.usages))


def parse_json(text: str) -> Any:
    """The answer's JSON value; `ValueError` saying where it is not JSON."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        msg = f"the answer is not JSON ({exc.msg} at position {exc.pos})"
        raise ValueError(msg) from exc


def output_schema(library: Library, output: OutputTarget) -> dict[str, Any]:
    item = concept_json_schema(library, output.concept) or {"type": "object"}
    if not output.is_list:
        return item
    items: dict[str, Any] = {"type": "array", "items": item}
    if output.count is not None:
        items |= {"minItems": output.count, "maxItems": output.count}
    return {
        "type": "object",
        "properties": {"items": items},
        "required": ["items"],
        "additionalProperties": False,
    }


def parsed_output(validator: ContentValidator, output: OutputTarget, text: str) -> Produced:
    """The answer as a checked content; `ValueError` (JSON or `ContentRefused`) saying what is wrong."""
    value = parse_json(text)
    if not output.is_list:
        return Produced(validator.validate(output.concept, value))
    raw: Any = cast("dict[str, Any]", value).get("items") if isinstance(value, dict) else None
    if not isinstance(raw, list):
        raise ContentRefused(output.concept, ["expected an object with an 'items' array"], ["items"])
    items = cast("list[Any]", raw)
    if output.count is not None and len(items) != output.count:
        raise ContentRefused(output.concept, [f"expected {output.count} items, got {len(items)}"], ["items"])
    return Produced.of_items(validator.validate_list(output.concept, items)["items"])
