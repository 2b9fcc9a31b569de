"""`methodflow validate` and `run` read the worker's settings: the deck of MODEL_DECK, the provider keys
and URLs (a PipeLLM answered by the loopback OpenAI-compatible server); `run --dry-run` mocks the inputs
it is not given.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.helpers.cli_environment import neutral_settings, subprocess_environment
from tests.helpers.model_servers.model_server import ModelServer
from tests.helpers.model_servers.serving import serving
from tests.integration.test_cli import write
from tests.integration.test_cli_run import LLM_BUNDLE
from worker.cli import app
from worker.settings import get_worker_settings

KEY = "sk-test-cli"
# A deck naming a model the built-in deck does not have.
DECK = """
[models.kerlann-llm]
type = "llm"
provider = "openai"
model = "test-model"
"""
DECK_MODEL_BUNDLE = LLM_BUNDLE.replace("prompt      =", 'model       = "kerlann-llm"\nprompt      =')
OTHER_MODEL_BUNDLE = DECK_MODEL_BUNDLE.replace("kerlann-llm", "ouessant-llm")

# Every input mocked in a dry run: a structured concept, a list and a file.
MOCKED_INPUTS_BUNDLE = """\
domain      = "harbour"
description = "Harbour reports"
main_pipe   = "report"

[concept.Vessel]
description = "A vessel"

[concept.Vessel.structure]
name = { type = "text", description = "Name", required = true }
length = { type = "integer", description = "Length in metres", required = true }

[pipe.report]
type        = "PipeLLM"
description = "Writes the harbour report"
inputs      = { vessel = "Vessel", notes = "Text[]", chart = "Image" }
output      = "Text"
prompt      = "Report on {{ vessel.name }} with $notes, charted in $chart"
"""

runner = CliRunner()


@pytest.fixture(autouse=True)
def worker_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    neutral_settings(monkeypatch)
    yield
    get_worker_settings.cache_clear()


def deck_file(tmp_path: Path) -> Path:
    return write(tmp_path / "deck.toml", DECK)


def test_validate_follows_the_model_deck(tmp_path: Path) -> None:
    """A model only MODEL_DECK has is accepted with it and refused without it; a model neither the
    deck nor the built-in one has is refused with it (the API gives the same verdicts)."""
    deck_model = write(tmp_path / "deck_model.mthds", DECK_MODEL_BUNDLE)
    with_deck = runner.invoke(
        app, ["validate", str(deck_model)], env={"MODEL_DECK": str(deck_file(tmp_path))}
    )
    assert with_deck.exit_code == 0, with_deck.output
    assert with_deck.stdout.startswith("valid: 1 bundle, ")
    get_worker_settings.cache_clear()  # as a new process would read the environment afresh
    builtin = runner.invoke(app, ["validate", str(deck_model)])
    assert builtin.exit_code == 1, builtin.output
    assert "model.unknown" in builtin.stdout
    assert "kerlann-llm" in builtin.stdout
    get_worker_settings.cache_clear()
    unknown = write(tmp_path / "other_model.mthds", OTHER_MODEL_BUNDLE)
    lacking = runner.invoke(app, ["validate", str(unknown)], env={"MODEL_DECK": str(deck_file(tmp_path))})
    assert lacking.exit_code == 1, lacking.output
    assert "model.unknown" in lacking.stdout
    assert "ouessant-llm" in lacking.stdout


def test_an_unusable_model_deck_exits_2_with_its_name(tmp_path: Path) -> None:
    bundle = write(tmp_path / "bundle.mthds", LLM_BUNDLE)
    broken = write(tmp_path / "broken.toml", "[models.x\n")
    for command in (["validate", str(bundle)], ["run", str(bundle), "--dry-run"]):
        result = runner.invoke(app, command, env={"MODEL_DECK": str(broken)})
        assert result.exit_code == 2, result.output
        assert "MODEL_DECK" in result.stderr
        assert "Traceback" not in result.output


def test_a_dry_run_mocks_every_input_it_is_not_given(tmp_path: Path) -> None:
    bundle = write(tmp_path / "bundle.mthds", MOCKED_INPUTS_BUNDLE)
    result = runner.invoke(app, ["run", str(bundle), "--dry-run", "--memory"])
    assert result.exit_code == 0, result.stderr
    root = json.loads(result.stdout)["working_memory"]["root"]
    assert set(root["vessel"]["content"]) == {"name", "length"}
    assert len(root["notes"]["content"]["items"]) == 2
    assert root["chart"]["content"]["url"].startswith("https://dry-run.invalid/")
    assert root["main_stuff"]["content"]["text"].startswith("DRY RUN")


def test_a_dry_run_keeps_the_inputs_it_is_given(tmp_path: Path) -> None:
    bundle = write(tmp_path / "bundle.mthds", MOCKED_INPUTS_BUNDLE)
    vessel = json.dumps({"name": "Enez Eusa", "length": 45})
    result = runner.invoke(app, ["run", str(bundle), "--dry-run", "--memory", "--input", f"vessel={vessel}"])
    assert result.exit_code == 0, result.stderr
    root = json.loads(result.stdout)["working_memory"]["root"]
    assert root["vessel"]["content"] == {"name": "Enez Eusa", "length": 45}
    assert len(root["notes"]["content"]["items"]) == 2


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """The installed console script in its own process (the loop keeps serving the model server)."""
    script = Path(sys.executable).with_name("methodflow")
    process = await asyncio.create_subprocess_exec(
        str(script),
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=90)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_run_calls_the_model_with_the_worker_provider_settings(tmp_path: Path) -> None:
    bundle = write(tmp_path / "bundle.mthds", LLM_BUNDLE)
    async with serving(ModelServer("openai", api_key=KEY, answer="Line 4 runs late.")) as server:
        env = subprocess_environment(tmp_path / "data", OPENAI_API_KEY=KEY, OPENAI_BASE_URL=server.base_url)
        code, stdout, stderr = await run_cli("run", str(bundle), "--input", "report=Train late", env=env)
    assert code == 0, stderr
    assert json.loads(stdout) == {"text": "Line 4 runs late."}
    (call,) = server.requests("/v1/chat/completions")
    assert call.body["model"] == "gpt-4o"  # the built-in deck's @default-general
    assert "Train late" in json.dumps(call.body["messages"])


async def test_run_calls_a_model_of_the_model_deck(tmp_path: Path) -> None:
    bundle = write(tmp_path / "bundle.mthds", DECK_MODEL_BUNDLE)
    async with serving(ModelServer("openai", api_key=KEY)) as server:
        env = subprocess_environment(
            tmp_path / "data",
            MODEL_DECK=str(deck_file(tmp_path)),
            OPENAI_API_KEY=KEY,
            OPENAI_BASE_URL=server.base_url,
        )
        code, stdout, stderr = await run_cli("run", str(bundle), "--input", "report=x", "--pretty", env=env)
    assert code == 0, stderr
    assert stdout == f"{server.answer}\n"
    (call,) = server.requests("/v1/chat/completions")
    assert call.body["model"] == "test-model"
