"""Resume end to end (issue 19): a failed run resumed pays only for what it had not done.

Real parts: the API and a worker on the session's Temporal server, PipeLLM calls through the OpenAI SDK
to the loopback test server, which counts every request it gets. The test server's answers echo the
prompt, so outputs differ by item and a resumed run's output can be compared with a clean run's.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from temporalio.client import Client

from api.auth import AuthMode
from tests.helpers.function_bundles import batch_bundle
from tests.helpers.model_servers.model_server import Fault, ModelServer
from tests.helpers.model_stack import model_stack
from tests.helpers.run_functions import COUNTED, read_counted
from tests.helpers.run_stack import RunStack, run_stack
from tests.helpers.worker_process import worker_environment, worker_processes
from worker.temporal_connection import connect

KEY = "sk-test-resume"
CHAT = "/v1/chat/completions"
# Prices so that a run's cost is the sum of its own calls' costs.
DECK = """
[models.test-llm]
type = "llm"
provider = "openai"
model = "test-model"
costs = { input = 2.0, output = 8.0 }

[aliases.llm]
default-general = "test-llm"
"""

BATCH_BUNDLE = """domain = "resume_batch"
main_pipe = "tag_all"

[pipe.tag_all]
type = "PipeBatch"
description = "Every item tagged by the model"
inputs = { items = "Text[]" }
output = "Text[]"
branch_pipe_code = "tag_one"
input_list_name = "items"
input_item_name = "item"

[pipe.tag_one]
type = "PipeLLM"
description = "Tags one item"
inputs = { item = "Text" }
output = "Text"
model = "test-llm"
prompt = "Tag {{ item }}."
"""

ITEMS = 500
FAIL_FROM = 300


def _prompt(body: dict[str, Any]) -> str:
    messages: list[dict[str, Any]] = body.get("messages") or []
    return str(messages[-1].get("content")) if messages else ""


def _echo(body: dict[str, Any]) -> str:
    return f"tagged: {_prompt(body)}"


def _item_index(body: dict[str, Any]) -> int:
    prompt = _prompt(body)
    return int(prompt.removeprefix("Tag item-").removesuffix("."))


def _succeeded_items(server: ModelServer) -> list[int]:
    return [_item_index(item.body) for item in server.requests(CHAT) if item.status == 200]


async def _settled(server: ModelServer, memo: Path) -> set[int]:
    """The items the provider answered, once neither they nor the memo's entries changed for a second."""
    seen: tuple[int, int] | None = None
    for _ in range(40):
        entries = await asyncio.to_thread(lambda: sum(1 for _ in memo.rglob("*.json")))
        now = (len(_succeeded_items(server)), entries)
        if now == seen:
            assert entries, f"no memo entry under {memo}"
            return set(_succeeded_items(server))
        seen = now
        await asyncio.sleep(1.0)
    msg = "the provider's answers or the memo kept changing after the run ended"
    raise AssertionError(msg)


async def _wait_ended(stack: RunStack, run_id: str) -> dict[str, Any]:
    for _ in range(600):
        answer = await stack.client.get(f"/v1/runs/{run_id}")
        assert answer.status_code == 200, answer.text
        record: dict[str, Any] = answer.json()
        if record["state"] in {"COMPLETED", "FAILED", "CANCELLED"}:
            return record
        await asyncio.sleep(0.1)
    msg = f"run {run_id} did not end"
    raise AssertionError(msg)


async def _wait_counted(counter: Path, lines: int) -> None:
    for _ in range(1200):
        if len(read_counted(counter)) >= lines:
            return
        await asyncio.sleep(0.05)
    msg = f"fewer than {lines} calls completed in a minute"
    raise AssertionError(msg)


async def _wait_closed(client: Client, id_prefix: str) -> None:
    query = f'WorkflowId STARTS_WITH "{id_prefix}" AND ExecutionStatus = "Running"'
    for _ in range(600):
        if not [execution async for execution in client.list_workflows(query)]:
            return
        await asyncio.sleep(0.1)
    msg = f"workflows under {id_prefix} still run after a minute"
    raise AssertionError(msg)


async def _results(stack: RunStack, run_id: str) -> dict[str, Any]:
    answer = await stack.client.get(f"/v1/runs/{run_id}/results")
    assert answer.status_code == 200, answer.text
    return answer.json()


def _output_texts(results: dict[str, Any]) -> list[str]:
    return [item["text"] for item in results["main_stuff"]["items"]]


async def test_a_failed_batch_resumes_with_only_its_failed_and_unrun_items(
    temporal_address: str, tmp_path: Path
) -> None:
    server = ModelServer("openai", api_key=KEY, answer_of=_echo)
    # A provider refusing every item from FAIL_FROM on, as long as it is scripted to.
    outage = Fault(
        status=400, message="scripted outage", when=lambda body: _item_index(body) >= FAIL_FROM, times=10**6
    )
    server.script(outage)
    items = [f"item-{index:04d}" for index in range(ITEMS)]
    body = {"mthds_contents": [BATCH_BUNDLE], "pipe_code": "tag_all", "inputs": {"items": items}}
    async with model_stack(
        temporal_address,
        tmp_path,
        [server],
        deck=DECK,
        keys={"openai": KEY},
        pipe_activity_max_attempts=1,
    ) as stack:
        started = await stack.client.post("/v1/start", json={**body, "pipeline_run_id": "resume-batch-first"})
        assert started.status_code == 202, started.text
        failed = await _wait_ended(stack, "resume-batch-first")
        assert failed["state"] == "FAILED", failed
        # Calls in flight when the run failed still end, at the provider and then in the memo: what the
        # original completed is read once both have settled.
        done_before = await _settled(server, tmp_path / "data" / "storage" / "memo")
        assert done_before, "the original run completed no item before the outage"
        assert max(done_before) < FAIL_FROM
        original_requests = len(server.requests(CHAT))

        outage.times = 0  # the provider is back
        resumed = await stack.client.post(
            "/v1/runs/resume-batch-first/resume", json={"pipeline_run_id": "resume-batch-second"}
        )
        assert resumed.status_code == 202, resumed.text
        record = await _wait_ended(stack, "resume-batch-second")
        assert record["state"] == "COMPLETED", record

        resume_requests = server.requests(CHAT)[original_requests:]
        asked_again = sorted(_item_index(item.body) for item in resume_requests)
        # Exactly the items the original did not complete, each once.
        assert asked_again == sorted(set(range(ITEMS)) - done_before)

        results = await _results(stack, "resume-batch-second")
        assert _output_texts(results) == [f"tagged: Tag {item}." for item in items]
        assert record["resumed_from"] == "resume-batch-first"
        assert record["reused_invocations"] == len(done_before)
        # The run's usage is its own calls only; what it did not pay again is what the original paid
        # for the items it reused.
        assert record["usage"]["model_calls"] == len(resume_requests)
        first = await _wait_ended(stack, "resume-batch-first")
        assert first["resumed_by"] == ["resume-batch-second"]
        # Calls still in flight when the original failed completed at the provider (and in the memo)
        # after its record was closed: its usage counts only those it saw end.
        assert first["usage"]["model_calls"] <= len(done_before)
        # Every call costs the same here (prompts of one length): what was not paid again is the
        # reused calls at that price.
        per_call = record["usage"]["cost_usd"] / record["usage"]["model_calls"]
        assert abs(record["reused_cost"] - per_call * len(done_before)) < 1e-9


SEQUENCE_BUNDLE = """domain = "resume_sequence"
main_pipe = "chain"

[pipe.first]
type = "PipeLLM"
description = "First step"
inputs = { topic = "Text" }
output = "Text"
model = "test-llm"
prompt = "First about {{ topic }}."

[pipe.aside]
type = "PipeLLM"
description = "An unrelated branch: reads the input only"
inputs = { topic = "Text" }
output = "Text"
model = "test-llm"
prompt = "Aside about {{ topic }}."

[pipe.middle]
type = "PipeLLM"
description = "The step that gets corrected"
inputs = { first_text = "Text" }
output = "Text"
model = "test-llm"
prompt = "Middle of {{ first_text }}."

[pipe.reader]
type = "PipeLLM"
description = "Reads the middle step"
inputs = { middle_text = "Text" }
output = "Text"
model = "test-llm"
prompt = "Reader of {{ middle_text }}."

[pipe.last]
type = "PipeLLM"
description = "Reads the reader; the provider fails it the first time"
inputs = { reader_text = "Text", aside_text = "Text" }
output = "Text"
model = "test-llm"
prompt = "Last of {{ reader_text }} and {{ aside_text }}."

[pipe.chain]
type = "PipeSequence"
description = "first, aside, middle, reader, last"
inputs = { topic = "Text" }
output = "Text"
steps = [
    { pipe = "first", result = "first_text" },
    { pipe = "aside", result = "aside_text" },
    { pipe = "middle", result = "middle_text" },
    { pipe = "reader", result = "reader_text" },
    { pipe = "last", result = "last_text" },
]
"""


def _step(body: dict[str, Any]) -> str:
    return _prompt(body).split(" ", 1)[0]


async def test_a_corrected_pipe_reruns_with_its_readers_and_nothing_else(
    temporal_address: str, tmp_path: Path
) -> None:
    server = ModelServer("openai", api_key=KEY, answer_of=_echo)
    outage = Fault(status=400, message="scripted refusal", when=lambda body: _step(body) == "Last", times=1)
    server.script(outage)
    body = {"mthds_contents": [SEQUENCE_BUNDLE], "pipe_code": "chain", "inputs": {"topic": "tides"}}
    async with model_stack(
        temporal_address, tmp_path, [server], deck=DECK, keys={"openai": KEY}, pipe_activity_max_attempts=1
    ) as stack:
        started = await stack.client.post("/v1/start", json={**body, "pipeline_run_id": "resume-seq-first"})
        assert started.status_code == 202, started.text
        assert (await _wait_ended(stack, "resume-seq-first"))["state"] == "FAILED"
        assert [_step(item.body) for item in server.requests(CHAT)] == [
            "First",
            "Aside",
            "Middle",
            "Reader",
            "Last",
        ]
        before = len(server.requests(CHAT))

        corrected = SEQUENCE_BUNDLE.replace(
            "Middle of {{ first_text }}.", "Middle, corrected, of {{ first_text }}."
        )
        resumed = await stack.client.post(
            "/v1/runs/resume-seq-first/resume",
            json={"pipeline_run_id": "resume-seq-second", "mthds_contents": [corrected]},
        )
        assert resumed.status_code == 202, resumed.text
        record = await _wait_ended(stack, "resume-seq-second")
        assert record["state"] == "COMPLETED", record
        # `first` and the unrelated `aside` are reused; the corrected step, its reader and the failed
        # last step run.
        assert [_step(item.body) for item in server.requests(CHAT)[before:]] == ["Middle,", "Reader", "Last"]
        assert record["reused_invocations"] == 2
        results = await _results(stack, "resume-seq-second")
        assert results["main_stuff"]["text"].startswith(
            "tagged: Last of tagged: Reader of tagged: Middle, corrected,"
        )


async def test_a_run_whose_workers_were_all_killed_resumes_from_what_they_completed(
    temporal_address: str, tmp_path: Path
) -> None:
    counter = tmp_path / "counter.txt"
    items = [f"kill-{index:02d}" for index in range(24)]
    async with run_stack(temporal_address, tmp_path, worker=False) as stack:
        env = worker_environment(
            temporal_address,
            stack.task_queue,
            tmp_path,
            FUNCTION_MODULES="tests.helpers.run_functions",
            SLOW_SECONDS="0.4",
            COUNTER_FILE=str(counter),
            # Two items at a time per worker: the kill finds some done and most not yet run.
            WORKER_MAX_CONCURRENT_ACTIVITIES="2",
        )
        with worker_processes(env, tmp_path) as workers:
            for worker in (workers.start(), workers.start()):
                await worker.wait_polling()
            body = {
                "mthds_contents": [batch_bundle(COUNTED, "resume_kill")],
                "inputs": {"items": items},
                "pipeline_run_id": "resume-kill-first",
            }
            started = await stack.client.post("/v1/start", json=body)
            assert started.status_code == 202, started.text
            await _wait_counted(counter, 6)
            workers.kill_all()
            done_at_kill = len(read_counted(counter))
            assert done_at_kill < len(items)
            # No worker is left to end the run: an operator terminates it (the run reads CANCELLED).
            workflow_id = started.json()["workflow_id"]
            client = await connect(temporal_address)
            await client.get_workflow_handle(workflow_id).terminate(reason="every worker was killed")
            assert (await _wait_ended(stack, "resume-kill-first"))["state"] == "CANCELLED"

            await workers.start().wait_polling()
            # The terminated run's batch and chunk workflows get their cancel once a worker is back,
            # and may finish a few calls meanwhile: resume once they have all closed.
            await _wait_closed(client, f"{workflow_id}/")
            done_at_kill = len(read_counted(counter))
            resumed = await stack.client.post(
                "/v1/runs/resume-kill-first/resume", json={"pipeline_run_id": "resume-kill-second"}
            )
            assert resumed.status_code == 202, resumed.text
            record = await _wait_ended(stack, "resume-kill-second")
            assert record["state"] == "COMPLETED", record
            ran_again = [text for text, _ in read_counted(counter)[done_at_kill:]]
            # Each item either reused or run, exactly once; calls whose answer the killed workers never
            # reported (in flight at the kill) are among those run again.
            assert len(ran_again) == len(set(ran_again))
            assert record["reused_invocations"] + len(ran_again) == len(items)
            assert record["reused_invocations"] >= 1
            results = await _results(stack, "resume-kill-second")
            assert [item["text"] for item in results["main_stuff"]["items"]] == [f"{item}+" for item in items]


async def test_tenant_reuse_makes_a_repeated_run_free_and_never_crosses_tenants(
    temporal_address: str, tmp_path: Path
) -> None:
    server = ModelServer("openai", api_key=KEY, answer_of=_echo)
    body = {
        "mthds_contents": [SEQUENCE_BUNDLE],
        "pipe_code": "chain",
        "inputs": {"topic": "reefs"},
        "reuse": "tenant",
    }
    async with model_stack(
        temporal_address,
        tmp_path,
        [server],
        deck=DECK,
        keys={"openai": KEY},
        api_overrides={
            "auth_mode": AuthMode.API_KEY,
            "api_key": SecretStr("acme:key-acme,globex:key-globex"),
        },
    ) as stack:

        async def execute(key: str) -> dict[str, Any]:
            answer = await stack.client.post(
                "/v1/execute", json=body, headers={"Authorization": f"Bearer {key}"}
            )
            assert answer.status_code == 200, answer.text
            return answer.json()

        await execute("key-acme")
        assert len(server.requests(CHAT)) == 5
        await execute("key-acme")
        assert len(server.requests(CHAT)) == 5  # every invocation reused: no model call
        await execute("key-globex")
        assert len(server.requests(CHAT)) == 10  # another tenant reuses nothing
