"""PipeJudge and PipeStructure runs for real: the API and a worker on Temporal, a custom model deck with
prices, and the OpenAI SDK talking to the fake OpenAI-compatible server on loopback (yes/no, choice,
rating and multi-question verdicts, text to structure, usage records and costs, typed failures).
"""

from __future__ import annotations

import base64
import json
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from shared.runtime.usage import PER_MILLION
from tests.helpers.api_server import assert_problem
from tests.helpers.model_servers.model_server import Fault, ModelServer, Received, count_tokens
from tests.helpers.model_servers.tiny_png import solid_png
from tests.helpers.model_stack import model_stack
from tests.helpers.run_stack import RunStack

KEY = "sk-test-judge-runs"
CHAT = "/v1/chat/completions"
LLM_PRICES = {"input": 2.0, "output": 8.0}
JUDGE_PRICES = {"input": 1.5, "output": 6.0}
DECK = """
[models.test-llm]
type = "llm"
provider = "openai"
model = "test-model"
costs = { input = 2.0, output = 8.0 }

[models.judge-llm]
type = "judgment"
provider = "openai"
model = "judge-model"
costs = { input = 1.5, output = 6.0 }

[aliases.llm]
default-structured = "test-llm"

[aliases.judgment]
test-judge = "judge-llm"
default-judgment = "judge-llm"
"""

BUNDLE = """domain = "judging"

[concept.Team]
description = "The team that handles a message"
refines = "Choice"

[concept.Triage]
description = "What a triage of a message found"

[concept.Triage.structure]
urgent = { type = "concept", concept_ref = "YesNo", description = "Urgent", required = true }
team = { type = "concept", concept_ref = "Team", description = "Team", required = true }
severity = { type = "concept", concept_ref = "Rating", description = "Severity" }

[concept.Hours]
description = "When a shop is open on a day"

[concept.Hours.structure]
day = { type = "text", description = "The day", required = true }
opens = { type = "text", description = "Opening time", required = true }

[pipe.is_urgent]
type = "PipeJudge"
description = "Judges urgency"
inputs = { message = "Text" }
output = "YesNo"
model = "@test-judge"
prompt = "A message from the inbox: {{ message }}"
question = "Does this message need an answer today?"
criteria = { yes = "Something is broken now", no = "It can wait" }
threshold = 0.7

[pipe.pick_team]
type = "PipeJudge"
description = "Picks a team"
inputs = { message = "Text" }
output = "Team"
model = "test-llm"
prompt = "A message from the inbox: {{ message }}"
question = "Which team should handle it?"
options = { billing = "Invoices and refunds", technical = "Errors and outages", other = "" }

[pipe.rate_severity]
type = "PipeJudge"
description = "Rates severity"
inputs = { message = "Text" }
output = "Rating"
prompt = "A message from the inbox: {{ message }}"
question = "How severe is the problem?"
levels = [
  { label = "Minor", description = "Nothing stops working" },
  { label = "Major" },
  { label = "Blocking", description = "Nothing works" },
]

[pipe.is_blurry]
type = "PipeJudge"
description = "Judges a photo"
inputs = { photo = "Image" }
output = "YesNo"
prompt = "A photo: $photo"
question = "Is this photo blurry?"

[pipe.triage]
type = "PipeJudge"
description = "Triages a message"
inputs = { message = "Text" }
output = "Triage"
model = { model = "@test-judge", description = "the judge" }
prompt = "A message from the inbox: {{ message }}"

[pipe.triage.questions.urgent]
question = "Is it urgent?"
threshold = 0.6

[pipe.triage.questions.team]
question = "Which team?"
options = { billing = "Invoices", technical = "Errors" }

[pipe.triage.questions.severity]
question = "How severe?"
levels = ["Minor", "Blocking"]

[pipe.read_hours]
type = "PipeStructure"
description = "Reads opening hours"
inputs = { message = "Text" }
output = "Hours"
model = "test-llm"

[pipe.read_week]
type = "PipeStructure"
description = "Reads a week of opening hours"
inputs = { message = "Text" }
output = "Hours[]"
"""
YES_NO_INSTRUCTION = 'Answer "yes" or "no", with the probability (from 0 to 1) that the true answer is yes.'
MESSAGE = "The checkout page shows error 500 since this morning."


def judge_stack(
    temporal_address: str, tmp_path: Path, server: ModelServer
) -> AbstractAsyncContextManager[RunStack]:
    # One attempt: a schema mismatch ends the run at once instead of after backoffs.
    return model_stack(
        temporal_address, tmp_path, [server], deck=DECK, keys={"openai": KEY}, pipe_activity_max_attempts=1
    )


async def execute(
    stack: RunStack, pipe: str, run_id: str, inputs: dict[str, Any] | None = None
) -> dict[str, Any]:
    body = {
        "mthds_contents": [BUNDLE],
        "pipe_code": pipe,
        "inputs": inputs or {"message": MESSAGE},
        "pipeline_run_id": run_id,
    }
    response = await stack.client.post("/v1/execute", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    assert result["state"] == "COMPLETED", result
    return result


def main_stuff(body: dict[str, Any]) -> dict[str, Any]:
    return body["pipe_output"]["working_memory"]["root"][body["main_stuff_name"]]


def expected_usage(
    sent: Received, answer: str, *, prices: dict[str, float], name: str, model_id: str, pipe: str, family: str
) -> dict[str, Any]:
    """The record the run must carry for one call: tokens as the test server counts them, priced by the deck."""
    tokens = {
        "input": sum(count_tokens(message["content"]) for message in sent.body["messages"]),
        "output": count_tokens(answer),
    }
    cost = round(sum(tokens[category] * prices[category] for category in tokens) / PER_MILLION, 10)
    return {
        "model_type": family,
        "inference_model_name": name,
        "inference_model_id": model_id,
        "pipe_code": pipe,
        "job_category": "judgment" if family == "judgment" else "llm_object",
        "nb_tokens_by_category": tokens,
        "cost": cost,
    }


def usages(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The run's usage records without their timings, which are checked for presence only."""
    records: list[dict[str, Any]] = body["pipe_output"]["tokens_usages"]
    for record in records:
        assert record.pop("started_at") <= record.pop("completed_at")
    return records


async def test_single_question_judges(temporal_address: str, tmp_path: Path) -> None:
    server = ModelServer("openai", api_key=KEY)
    yes_answer = json.dumps({"answer": "yes", "probability": 0.65})  # below the threshold of 0.7
    choice_answer = json.dumps({"choice": "technical", "confidence": 0.8})
    server.script(Fault(text=yes_answer), Fault(text=choice_answer))
    async with judge_stack(temporal_address, tmp_path, server) as stack:
        urgent = await execute(stack, "is_urgent", "run-judge-yes-no")
        stuff = main_stuff(urgent)
        assert stuff["concept"] == "native.YesNo"
        assert stuff["content"] == {"yes_no": False, "probability": 0.65}
        sent = server.requests(CHAT)[-1]
        assert sent.body["model"] == "judge-model"
        system, user = sent.body["messages"]
        assert system["role"] == "system"
        assert "judge" in system["content"]
        assert user["content"] == (
            f"A message from the inbox: {MESSAGE}\n\n"
            f"Question: Does this message need an answer today?\n{YES_NO_INSTRUCTION}\n"
            '"yes" means: Something is broken now\n"no" means: It can wait'
        )
        schema = sent.body["response_format"]["json_schema"]["schema"]
        assert schema["required"] == ["answer", "probability"]
        assert set(schema["properties"]["answer"]["enum"]) == {"yes", "no"}
        records = usages(urgent)
        # 80 words sent (system and user), 4 answered: 80 * 1.5 / 1e6 + 4 * 6.0 / 1e6 USD.
        assert records[0]["nb_tokens_by_category"] == {"input": 80, "output": 4}
        assert records[0]["cost"] == 0.000144
        assert records == [
            {
                **expected_usage(
                    sent,
                    yes_answer,
                    prices=JUDGE_PRICES,
                    name="judge-llm",
                    model_id="judge-model",
                    pipe="is_urgent",
                    family="judgment",
                ),
                "unit_job_id": "generation",
            }
        ]

        team = await execute(stack, "pick_team", "run-judge-choice")
        assert main_stuff(team)["concept"] == "judging.Team"
        assert main_stuff(team)["content"] == {
            "choice": "technical",
            "confidence": 0.8,
            "probabilities": None,
        }
        sent = server.requests(CHAT)[-1]
        assert sent.body["model"] == "test-model"  # an llm handle named by a judge
        schema = sent.body["response_format"]["json_schema"]["schema"]
        assert schema["properties"]["choice"]["enum"] == ["billing", "technical", "other"]
        assert (
            "- billing: Invoices and refunds\n- technical: Errors and outages\n- other"
            in (sent.body["messages"][-1]["content"])
        )
        [record] = usages(team)
        assert record["inference_model_name"] == "test-llm"
        assert record["model_type"] == "judgment"
        assert (
            record["cost"]
            == expected_usage(
                sent, choice_answer, prices=LLM_PRICES, name="", model_id="", pipe="", family=""
            )["cost"]
        )

        # No script: the server answers the schema's smallest instance, level 0 with confidence 0.
        rating = await execute(stack, "rate_severity", "run-judge-rating")
        assert main_stuff(rating)["content"] == {
            "level": 0,
            "label": "Minor",
            "confidence": 0.0,
            "probabilities": None,
            "position": None,
        }
        sent = server.requests(CHAT)[-1]
        assert sent.body["model"] == "judge-model"  # the deck's @default-judgment
        assert sent.body["response_format"]["json_schema"]["schema"]["properties"]["level"]["enum"] == [
            0,
            1,
            2,
        ]
        assert (
            "- 0: Minor — Nothing stops working\n- 1: Major\n- 2: Blocking — Nothing works"
            in (sent.body["messages"][-1]["content"])
        )

        png = solid_png(8, 6)
        photo = {"url": f"data:image/png;base64,{base64.b64encode(png).decode()}"}
        blurry = await execute(stack, "is_blurry", "run-judge-image", {"photo": photo})
        # The server's smallest answer to the schema: "no", with a probability of yes of 0.
        assert main_stuff(blurry)["content"] == {"yes_no": False, "probability": 0.0}
        text, image = server.requests(CHAT)[-1].body["messages"][-1]["content"]
        assert text["type"] == "text"
        assert text["text"].startswith("A photo:")
        assert text["text"].endswith("Question: Is this photo blurry?\n" + YES_NO_INSTRUCTION)
        assert image["type"] == "image_url"
        assert base64.b64decode(image["image_url"]["url"].removeprefix("data:image/png;base64,")) == png
    assert len(server.requests(CHAT)) == 4
    assert server.pending_faults == []


async def test_multi_question_judge_and_structures(temporal_address: str, tmp_path: Path) -> None:
    server = ModelServer("openai", api_key=KEY)
    triage_answer = json.dumps(
        {
            "urgent": {"answer": "yes", "probability": 0.6},
            "team": {"choice": "technical", "confidence": 0.9},
            "severity": {"level": 1, "confidence": 0.75},
        }
    )
    hours_answer = json.dumps({"day": "Monday", "opens": "09:00"})
    week_answer = json.dumps(
        {"items": [{"day": "Monday", "opens": "09:00"}, {"day": "Tuesday", "opens": "10:00"}]}
    )
    server.script(Fault(text=triage_answer), Fault(text=hours_answer), Fault(text=week_answer))
    async with judge_stack(temporal_address, tmp_path, server) as stack:
        triage = await execute(stack, "triage", "run-judge-multi")
        assert main_stuff(triage)["concept"] == "judging.Triage"
        assert main_stuff(triage)["content"] == {
            "urgent": {"yes_no": True, "probability": 0.6},  # exactly at its threshold: yes
            "team": {"choice": "technical", "confidence": 0.9, "probabilities": None},
            "severity": {
                "level": 1,
                "label": "Blocking",
                "confidence": 0.75,
                "probabilities": None,
                "position": None,
            },
        }
        sent = server.requests(CHAT)[-1]
        assert sent.body["model"] == "judge-model"
        schema = sent.body["response_format"]["json_schema"]["schema"]
        assert schema["required"] == ["urgent", "team", "severity"]
        assert schema["properties"]["team"]["properties"]["choice"]["enum"] == ["billing", "technical"]
        prompt = sent.body["messages"][-1]["content"]
        assert prompt.startswith(f"A message from the inbox: {MESSAGE}\n\nAnswer each of these questions")
        assert "urgent: Is it urgent?" in prompt
        assert "team: Which team?" in prompt
        assert "severity: How severe?" in prompt
        [record] = usages(triage)
        assert record["cost"] is not None
        assert record["cost"] > 0

        hours = await execute(stack, "read_hours", "run-structure")
        assert main_stuff(hours)["concept"] == "judging.Hours"
        assert main_stuff(hours)["content"] == {"day": "Monday", "opens": "09:00"}
        sent = server.requests(CHAT)[-1]
        assert sent.body["model"] == "test-model"
        assert sent.body["messages"] == [
            {
                "role": "user",
                "content": "Read the following text carefully and produce the requested structured output "
                f"from it.\n\n---\n{MESSAGE}\n",
            }
        ]
        schema = sent.body["response_format"]["json_schema"]["schema"]
        assert schema["required"] == ["day", "opens"]
        assert usages(hours) == [
            {
                **expected_usage(
                    sent,
                    hours_answer,
                    prices=LLM_PRICES,
                    name="test-llm",
                    model_id="test-model",
                    pipe="read_hours",
                    family="llm",
                ),
                "unit_job_id": "generation",
            }
        ]

        week = await execute(stack, "read_week", "run-structure-list")
        assert main_stuff(week)["concept"] == "judging.Hours"
        assert main_stuff(week)["content"] == {
            "items": [{"day": "Monday", "opens": "09:00"}, {"day": "Tuesday", "opens": "10:00"}]
        }
        sent = server.requests(CHAT)[-1]
        assert sent.body["model"] == "test-model"  # the deck's @default-structured
        list_schema = sent.body["response_format"]["json_schema"]["schema"]
        assert list_schema["properties"]["items"]["items"]["required"] == ["day", "opens"]
    assert len(server.requests(CHAT)) == 3


async def test_refused_answers_end_in_a_schema_mismatch(temporal_address: str, tmp_path: Path) -> None:
    server = ModelServer("openai", api_key=KEY)
    wrong_key = json.dumps({"choice": "sales", "confidence": 0.9})
    server.script(Fault(text="not json", times=2), Fault(text=wrong_key, times=2))
    async with judge_stack(temporal_address, tmp_path, server) as stack:
        body = {"mthds_contents": [BUNDLE], "inputs": {"message": MESSAGE}}
        not_json = await stack.client.post(
            "/v1/execute",
            json={**body, "pipe_code": "read_hours", "pipeline_run_id": "run-structure-not-json"},
        )
        problem = assert_problem(not_json, 502, "model.output_schema_mismatch")
        assert problem["location"]["pipe"] == "read_hours"
        first, repair = server.requests(CHAT)
        assert "not JSON" in repair.body["messages"][-1]["content"]
        assert repair.body["messages"][-1]["content"].startswith(first.body["messages"][-1]["content"])

        not_an_option = await stack.client.post(
            "/v1/execute", json={**body, "pipe_code": "pick_team", "pipeline_run_id": "run-judge-not-option"}
        )
        problem = assert_problem(not_an_option, 502, "model.output_schema_mismatch")
        assert problem["location"]["pipe"] == "pick_team"
        assert "sales" in problem["detail"]
        first, repair = server.requests(CHAT)[2:]
        assert "one of the option keys billing, technical, other" in repair.body["messages"][-1]["content"]
        assert repair.body["messages"][-1]["content"].startswith(first.body["messages"][-1]["content"])
    assert len(server.requests(CHAT)) == 4  # one answer and one repair round per run, no more
    assert server.pending_faults == []


async def test_a_repaired_verdict_is_accepted_and_both_calls_are_recorded(
    temporal_address: str, tmp_path: Path
) -> None:
    server = ModelServer("openai", api_key=KEY)
    contradiction = json.dumps({"answer": "no", "probability": 0.9})
    repaired = json.dumps({"answer": "yes", "probability": 0.9})
    server.script(Fault(text=contradiction), Fault(text=repaired))
    async with judge_stack(temporal_address, tmp_path, server) as stack:
        urgent = await execute(stack, "is_urgent", "run-judge-repair")
        assert main_stuff(urgent)["content"] == {"yes_no": True, "probability": 0.9}
    first, repair = server.requests(CHAT)
    assert "contradicts" in repair.body["messages"][-1]["content"]
    records = usages(urgent)
    assert [record["unit_job_id"] for record in records] == ["generation", "repair"]
    for record, sent, answer in zip(records, (first, repair), (contradiction, repaired), strict=True):
        assert record == {
            **expected_usage(
                sent,
                answer,
                prices=JUDGE_PRICES,
                name="judge-llm",
                model_id="judge-model",
                pipe="is_urgent",
                family="judgment",
            ),
            "unit_job_id": record["unit_job_id"],
        }
