"""The order of a run request's checks (http-api.md §4.5): reserved keys and the callback rule at step 4,
Python files in a tree at step 6, after the idempotency lookup of step 5."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.api_server import assert_problem
from tests.helpers.run_stack import run_stack
from tests.integration.test_runs import GREET, greet_body

SECRETS = {"completion_callback_secret": "cbsecret"}


def _tree(with_python: bool) -> dict[str, str]:
    files = {"bundle.mthds": GREET}
    if with_python:
        files["helpers/tool.py"] = "print('hi')\n"
    return files


async def test_reserved_keys_answer_before_the_callback_rule(temporal_address: str, tmp_path: Path) -> None:
    async with run_stack(temporal_address, tmp_path, worker=False, api_overrides=SECRETS) as stack:
        body = greet_body(callback_urls=["http://127.0.0.1/hook"])
        body["inputs"] = {"name": {"concept": "Text", "content": {"text": "Ada", "__class__": "x"}}}
        answer = await stack.client.post("/v1/start", json=body)
        assert_problem(answer, 422, "pipelex.security.reserved_key")
        plain = await stack.client.post("/v1/start", json=greet_body(callback_urls=["http://127.0.0.1/hook"]))
        assert_problem(plain, 422, "security.input_url_refused")


async def test_python_files_are_refused_after_field_checks_and_after_idempotency(
    temporal_address: str, tmp_path: Path
) -> None:
    async with run_stack(temporal_address, tmp_path, api_overrides=SECRETS) as stack:
        too_many = await stack.client.post(
            "/v1/start",
            json={
                "files": _tree(with_python=True),
                "inputs": {"name": "Ada"},
                "callback_urls": ["http://a/"] * 6,
            },
        )
        assert_problem(too_many, 422, "request.invalid")
        refused = await stack.client.post(
            "/v1/start", json={"files": _tree(with_python=True), "inputs": {"name": "Ada"}}
        )
        assert_problem(refused, 501, "pipelex.deployment.custom_code_requires_sandbox")
        first = {
            "files": _tree(with_python=False),
            "inputs": {"name": "Ada"},
            "pipeline_run_id": "run-order-py",
        }
        assert (await stack.client.post("/v1/start", json=first)).status_code == 202
        # Step 5 answers from the existing run before step 6 looks at the tree.
        again = await stack.client.post("/v1/start", json={**first, "files": _tree(with_python=True)})
        assert_problem(again, 409, "request.idempotency_conflict")
