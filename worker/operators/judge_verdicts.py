"""PipeJudge's questions, the JSON a judging model answers them with, and the verdict natives that answer
becomes (mthds.md §1.5, §2.5). Pure: no I/O.

Each question asks for a small verdict object: yes/no `{"answer", "probability"}` (the probability that
the answer is yes), choice `{"choice", "confidence"}`, rating `{"level", "confidence"}`; several questions
ask for one such object per question name. The conversion is deterministic:

- yes/no: an answer contradicting its probability (a "yes" below 0.5, a "no" above) is refused; with a
  `threshold`, the verdict is `probability >= threshold`, else the model's answer stands.
- choice: the key must be one of the options; `probabilities` is null (one choice measures no distribution).
- rating: the level must be on the scale; `label` is the declared label of that level (null for a scale
  without labels); `probabilities` and `position` are null: the reference's position is the
  probability-weighted index over a measured distribution, and a single level measures none.

A refused answer raises `ValueError` saying what is wrong, which the repair request quotes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, cast

from shared.language.pipe_blueprints import JudgeLevel

SINGLE: Final = "question"  # the key of the single form's question (as `render_operator_templates` names it)
SYSTEM_PROMPT: Final = (
    "You are a careful judge. You answer closed questions about the evidence you are shown, from that "
    "evidence only, with a JSON document that follows the given JSON Schema exactly."
)
_YES_NO_INSTRUCTION: Final = (
    'Answer "yes" or "no", with the probability (from 0 to 1) that the true answer is yes.'
)
_CHOICE_INSTRUCTION: Final = "Choose exactly one option by its key, with your confidence (from 0 to 1):"
_RATING_INSTRUCTION: Final = "Rate it on this scale, from lowest to highest, by the level's number, with your confidence (from 0 to 1):"
_EVEN_ODDS: Final = 0.5
_CONFIDENCE: Final = {
    "type": "number",
    "minimum": 0,
    "maximum": 1,
    "description": "How sure you are of this answer, from 0 to 1",
}


class Kind(StrEnum):
    YES_NO = "yes_no"
    CHOICE = "choice"
    RATING = "rating"


@dataclass(frozen=True, slots=True)
class Question:
    """One closed question, its template already rendered."""

    text: str
    kind: Kind
    options: tuple[tuple[str, str], ...] = ()  # (key, description) of a choice
    levels: tuple[tuple[str | None, str | None], ...] = ()  # (label, description) of a rating, low to high
    criteria: Mapping[str, str] | None = None  # what "yes" and "no" mean
    threshold: float | None = None


def question_of(
    text: str,
    *,
    options: Mapping[str, str] | None,
    levels: list[str | JudgeLevel] | None,
    criteria: Mapping[str, str] | None,
    threshold: float | None,
) -> Question:
    """The question a blueprint (or one of its `questions`) asks: options ⇒ choice, levels ⇒ rating, else yes/no."""
    if options:
        keys = tuple((key, description) for key, description in options.items() if key.strip())
        return Question(text, Kind.CHOICE, options=keys)
    if levels:
        scale = tuple(
            (level.label, level.description) if isinstance(level, JudgeLevel) else (level, None)
            for level in levels
        )
        return Question(text, Kind.RATING, levels=scale)
    return Question(text, Kind.YES_NO, criteria=criteria, threshold=threshold)


@dataclass(frozen=True, slots=True)
class Judgment:
    """What one PipeJudge asks: one question (`single`, under `SINGLE`) or several by output field name."""

    questions: Mapping[str, Question]
    single: bool

    def schema(self) -> dict[str, Any]:
        """The JSON Schema of the answer: a verdict object, or one per question name."""
        if self.single:
            return verdict_schema(self.questions[SINGLE])
        return _object_schema({name: verdict_schema(question) for name, question in self.questions.items()})

    def prompt(self, evidence: str) -> str:
        """The user message: the evidence, then the question(s) with what each answer means."""
        evidence = evidence.rstrip()
        if self.single:
            return f"{evidence}\n\nQuestion: {_question_text(self.questions[SINGLE])}"
        asked = "\n\n".join(
            f"{name}: {_question_text(question)}" for name, question in self.questions.items()
        )
        return f"{evidence}\n\nAnswer each of these questions under its name:\n\n{asked}"

    def verdicts(self, answer: Any) -> dict[str, Any]:
        """The verdict natives of a parsed answer; `ValueError` naming what is refused."""
        if self.single:
            return verdict_of(self.questions[SINGLE], answer)
        fields = _fields(answer, "the answer")
        found: dict[str, Any] = {}
        for name, question in self.questions.items():
            if name not in fields:
                msg = f"'{name}': missing (every question needs its answer)"
                raise ValueError(msg)
            try:
                found[name] = verdict_of(question, fields[name])
            except ValueError as exc:
                msg = f"'{name}': {exc}"
                raise ValueError(msg) from exc
        return found


def verdict_schema(question: Question) -> dict[str, Any]:
    """The JSON Schema of one question's answer."""
    if question.kind is Kind.CHOICE:
        keys = [key for key, _ in question.options]
        return _object_schema({"choice": {"type": "string", "enum": keys}, "confidence": _CONFIDENCE})
    if question.kind is Kind.RATING:
        indexes = list(range(len(question.levels)))
        return _object_schema({"level": {"type": "integer", "enum": indexes}, "confidence": _CONFIDENCE})
    probability = {
        "type": "number",
        "minimum": 0,
        "maximum": 1,
        "description": "The probability, from 0 to 1, that the true answer is yes",
    }
    return _object_schema({"answer": {"type": "string", "enum": ["no", "yes"]}, "probability": probability})


def verdict_of(question: Question, answer: Any) -> dict[str, Any]:
    """The verdict native (YesNo, Choice or Rating content) of one question's answer."""
    fields = _fields(answer, "an answer")
    if question.kind is Kind.CHOICE:
        keys = [key for key, _ in question.options]
        choice = fields.get("choice")
        if not isinstance(choice, str) or choice not in keys:
            msg = f"'choice' must be one of the option keys {', '.join(keys)}, not {_shown(choice)}"
            raise ValueError(msg)
        return {"choice": choice, "confidence": _unit(fields, "confidence"), "probabilities": None}
    if question.kind is Kind.RATING:
        level = fields.get("level")
        if isinstance(level, float) and level.is_integer():
            level = int(level)
        if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level < len(question.levels):
            msg = f"'level' must be a level number from 0 to {len(question.levels) - 1}, not {_shown(level)}"
            raise ValueError(msg)
        return {
            "level": level,
            "label": question.levels[level][0],
            "confidence": _unit(fields, "confidence"),
            "probabilities": None,
            "position": None,
        }
    return _yes_no(question, fields)


def _yes_no(question: Question, fields: Mapping[str, Any]) -> dict[str, Any]:
    raw = fields.get("answer")
    answer = raw.strip().lower() if isinstance(raw, str) else raw
    if answer not in ("yes", "no"):
        msg = f'\'answer\' must be "yes" or "no", not {_shown(raw)}'
        raise ValueError(msg)
    probability = _unit(fields, "probability")
    if probability is None:
        return {"yes_no": answer == "yes", "probability": None}
    if (answer == "yes" and probability < _EVEN_ODDS) or (answer == "no" and probability > _EVEN_ODDS):
        msg = f'the answer "{answer}" contradicts its probability of yes, {probability}'
        raise ValueError(msg)
    threshold = question.threshold
    verdict = probability >= threshold if threshold is not None else answer == "yes"
    return {"yes_no": verdict, "probability": probability}


def _unit(fields: Mapping[str, Any], name: str) -> float | None:
    """The optional number `name` of `fields`, which must lie between 0 and 1."""
    value = fields.get(name)
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= 1
    ):
        msg = f"'{name}' must be a number from 0 to 1, not {_shown(value)}"
        raise ValueError(msg)
    return float(value)


def _fields(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        msg = f"{what} must be a JSON object"
        raise ValueError(msg)  # noqa: TRY004 -- a refused answer is a value fault, quoted in the repair
    return cast("dict[str, Any]", value)


def _shown(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 80 else f"{shown[:77]}..."


def _question_text(question: Question) -> str:
    lines = [question.text.strip()]
    if question.kind is Kind.CHOICE:
        lines.append(_CHOICE_INSTRUCTION)
        lines += [f"- {key}: {text}" if text.strip() else f"- {key}" for key, text in question.options]
    elif question.kind is Kind.RATING:
        lines.append(_RATING_INSTRUCTION)
        for index, (label, text) in enumerate(question.levels):
            named = " — ".join(part.strip() for part in (label, text) if part and part.strip())
            lines.append(f"- {index}: {named}" if named else f"- {index}")
    else:
        lines.append(_YES_NO_INSTRUCTION)
        if question.criteria is not None:
            lines += [f'"{side}" means: {question.criteria[side]}' for side in ("yes", "no")]
    return "\n".join(lines)


def _object_schema(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
