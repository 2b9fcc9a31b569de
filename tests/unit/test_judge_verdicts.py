"""PipeJudge's answers and verdicts (mthds.md §1.5, §2.5): the schema asked for, the prompt, and the
deterministic conversion of an answer into YesNo / Choice / Rating contents, refusals included."""

from __future__ import annotations

import re
from typing import Any

import pytest

from shared.language.model_deck import ModelDeck
from shared.language.pipe_blueprints import JudgeLevel
from shared.runtime.run_failure import PipeRunError
from tests.helpers.model_servers.schema_instance import minimal_instance
from worker.operators.judge import judge_model
from worker.operators.judge_verdicts import SINGLE, Judgment, Kind, Question, question_of, verdict_of

URGENT = question_of(
    "Is it urgent?",
    options=None,
    levels=None,
    criteria={"yes": "Blocked now", "no": "Can wait"},
    threshold=0.7,
)
PLAIN_YES_NO = question_of("Is it spam?", options=None, levels=None, criteria=None, threshold=None)
TEAM = question_of(
    "Which team?",
    options={"billing": "Invoices", "technical": "Errors", "other": ""},
    levels=None,
    criteria=None,
    threshold=None,
)
SEVERITY = question_of(
    "How severe?",
    options=None,
    levels=[JudgeLevel(label="Minor", description="Nothing stops"), JudgeLevel(label="Blocking")],
    criteria=None,
    threshold=None,
)
UNLABELLED = question_of(
    "How big?",
    options=None,
    levels=[JudgeLevel(description="small"), JudgeLevel(description="large")],
    criteria=None,
    threshold=None,
)
TRIAGE = Judgment({"urgent": URGENT, "team": TEAM, "severity": SEVERITY}, single=False)


def test_kinds_follow_options_then_levels() -> None:
    assert (URGENT.kind, TEAM.kind, SEVERITY.kind) == (Kind.YES_NO, Kind.CHOICE, Kind.RATING)
    assert SEVERITY.levels == (("Minor", "Nothing stops"), ("Blocking", None))
    plain_levels = question_of("?", options=None, levels=["Low", "High"], criteria=None, threshold=None)
    assert plain_levels.levels == (("Low", None), ("High", None))
    blank_key = question_of(
        "?", options={"a": "", "b": "", " ": ""}, levels=None, criteria=None, threshold=None
    )
    assert [key for key, _ in blank_key.options] == ["a", "b"]


def test_schemas_enumerate_the_allowed_answers() -> None:
    single = Judgment({SINGLE: TEAM}, single=True).schema()
    assert single["properties"]["choice"]["enum"] == ["billing", "technical", "other"]
    assert single["required"] == ["choice", "confidence"]
    assert single["additionalProperties"] is False
    multi = TRIAGE.schema()
    assert multi["required"] == ["urgent", "team", "severity"]
    assert set(multi["properties"]["urgent"]["properties"]["answer"]["enum"]) == {"yes", "no"}
    assert multi["properties"]["severity"]["properties"]["level"] == {"type": "integer", "enum": [0, 1]}
    # The test model servers answer a schema with its smallest instance: it must be a valid answer.
    assert TRIAGE.verdicts(minimal_instance(multi))["urgent"] == {"yes_no": False, "probability": 0.0}


def test_prompt_lists_evidence_criteria_options_and_levels() -> None:
    prompt = TRIAGE.prompt("A message: the site is down.")
    assert prompt.startswith("A message: the site is down.\n\nAnswer each of these questions under its name:")
    assert 'urgent: Is it urgent?\nAnswer "yes" or "no"' in prompt
    assert '"yes" means: Blocked now\n"no" means: Can wait' in prompt
    assert "- billing: Invoices\n- technical: Errors\n- other\n" in prompt
    assert "- 0: Minor — Nothing stops\n- 1: Blocking" in prompt
    assert Judgment({SINGLE: UNLABELLED}, single=True).prompt("E").endswith("- 0: small\n- 1: large")
    # A rendered prompt's trailing newlines do not widen the gap before the question.
    assert (
        Judgment({SINGLE: PLAIN_YES_NO}, single=True).prompt("E\n").startswith("E\n\nQuestion: Is it spam?\n")
    )


@pytest.mark.parametrize(
    ("question", "answer", "verdict"),
    [
        (URGENT, {"answer": "yes", "probability": 0.65}, {"yes_no": False, "probability": 0.65}),
        (URGENT, {"answer": "yes", "probability": 0.7}, {"yes_no": True, "probability": 0.7}),
        (URGENT, {"answer": "no", "probability": 0.5}, {"yes_no": False, "probability": 0.5}),
        (URGENT, {"answer": "YES"}, {"yes_no": True, "probability": None}),
        (PLAIN_YES_NO, {"answer": "yes", "probability": 0.5}, {"yes_no": True, "probability": 0.5}),
        (PLAIN_YES_NO, {"answer": "no", "probability": 0}, {"yes_no": False, "probability": 0.0}),
        (
            TEAM,
            {"choice": "technical", "confidence": 0.8},
            {"choice": "technical", "confidence": 0.8, "probabilities": None},
        ),
        (TEAM, {"choice": "other"}, {"choice": "other", "confidence": None, "probabilities": None}),
        (
            SEVERITY,
            {"level": 1, "confidence": 0.9},
            {"level": 1, "label": "Blocking", "confidence": 0.9, "probabilities": None, "position": None},
        ),
        (
            UNLABELLED,
            {"level": 0.0, "confidence": 1},
            {"level": 0, "label": None, "confidence": 1.0, "probabilities": None, "position": None},
        ),
    ],
)
def test_answers_become_verdict_natives(question: Question, answer: Any, verdict: dict[str, Any]) -> None:
    assert verdict_of(question, answer) == verdict


@pytest.mark.parametrize(
    ("question", "answer", "why"),
    [
        (URGENT, {"answer": "maybe", "probability": 0.5}, "'answer' must be"),
        (URGENT, {"answer": "yes", "probability": 0.2}, "contradicts"),
        (URGENT, {"answer": "no", "probability": 0.9}, "contradicts"),
        (URGENT, {"answer": "yes", "probability": 1.5}, "'probability' must be a number from 0 to 1"),
        (URGENT, {"answer": "yes", "probability": True}, "'probability' must be"),
        (URGENT, {"answer": "yes", "probability": float("nan")}, "'probability' must be"),
        (TEAM, {"choice": "sales", "confidence": 0.9}, "one of the option keys billing, technical, other"),
        (TEAM, {"choice": "billing", "confidence": "high"}, "'confidence' must be"),
        (SEVERITY, {"level": 2, "confidence": 0.9}, "from 0 to 1, not 2"),
        (SEVERITY, {"level": True}, "'level' must be"),
        (SEVERITY, ["level", 1], "must be a JSON object"),
    ],
)
def test_refused_answers_say_why(question: Question, answer: Any, why: str) -> None:
    with pytest.raises(ValueError, match=re.escape(why)):
        verdict_of(question, answer)


def test_several_questions_name_the_refused_one() -> None:
    answer = {
        "urgent": {"answer": "no", "probability": 0.1},
        "team": {"choice": "sales", "confidence": 1},
        "severity": {"level": 0, "confidence": 1},
    }
    with pytest.raises(ValueError, match=r"^'team': 'choice' must be one of"):
        TRIAGE.verdicts(answer)
    answer["team"] = {"choice": "billing", "confidence": 1}
    with pytest.raises(ValueError, match=r"^'severity': missing"):
        TRIAGE.verdicts({key: value for key, value in answer.items() if key != "severity"})
    assert TRIAGE.verdicts(answer) == {
        "urgent": {"yes_no": False, "probability": 0.1},
        "team": {"choice": "billing", "confidence": 1.0, "probabilities": None},
        "severity": {
            "level": 0,
            "label": "Minor",
            "confidence": 1.0,
            "probabilities": None,
            "position": None,
        },
    }


DECK_WITH_JUDGE = """
[models.judge]
type = "judgment"
provider = "openai"
model = "judge-model"

[models.writer]
type = "llm"
provider = "openai"
model = "writer-model"

[aliases.judgment]
default-judgment = "judge"

[aliases.llm]
default-structured = "writer"
"""


def test_judge_model_prefers_the_pipe_then_the_judgment_then_the_llm_default() -> None:
    deck = ModelDeck.from_toml(DECK_WITH_JUDGE)
    assert judge_model(deck, None)[0] == "judge"
    assert judge_model(deck, "writer")[0] == "writer"  # an llm handle serves the judgment family
    llm_only = ModelDeck.from_toml(DECK_WITH_JUDGE.replace('default-judgment = "judge"', ""))
    assert judge_model(llm_only, None)[0] == "writer"
    with pytest.raises(PipeRunError) as unknown:
        judge_model(llm_only, "@nowhere")
    assert unknown.value.code == "model.unknown"
    bare = ModelDeck.from_toml('[models.judge]\ntype = "judgment"\nprovider = "openai"\nmodel = "m"\n')
    with pytest.raises(PipeRunError) as no_default:
        judge_model(bare, None)
    assert no_default.value.code == "model.unknown"
    assert "@default-judgment" in no_default.value.message
