"""`methodflow` against a real server (the API over a loopback socket, a worker, the Temporal dev server,
API-key auth, a scripted model server for the Pipe Builder): every command, plain and `--json`, and the
bad inputs (unknown run, wrong key, server down, missing bundle, inputs that are not JSON, malformed
`--server`), each one clear line and its exit code, never a traceback.

The commands run through Typer's runner in a thread: the stack's server runs on the test's event loop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from tests.helpers.api_server import REPO_ROOT
from tests.helpers.cli_environment import neutral_settings
from tests.helpers.model_servers.model_server import Fault, ModelServer
from tests.helpers.model_stack import model_stack
from tests.helpers.run_functions import FAILING, SLOW
from worker.cli import app
from worker.dev_server import free_port

HELLO = (REPO_ROOT / "docs" / "examples" / "hello.mthds").read_text()
WELCOME = {"guest": "Ada", "message": "Hello, Ada! Your run is durable."}
FUNCS = f"""domain = "funcs"

[pipe.slow]
type = "PipeFunc"
description = "Slow echo"
inputs = {{ name = "Text" }}
output = "Text"
function_name = "{SLOW}"

[pipe.broken]
type = "PipeFunc"
description = "Always fails"
inputs = {{ name = "Text" }}
output = "Text"
function_name = "{FAILING}"
"""
# What the Pipe Builder's model answers: a bundle that validates.
DRAFT = """Here is the bundle:

```toml
domain = "greetings"
description = "Greets a guest"
main_pipe = "greet"

[pipe.greet]
type = "PipeLLM"
description = "Write a greeting"
inputs = { name = "Text" }
output = "Text"
model = "test-llm"
prompt = "Write a one-line greeting for {{ name }}."
```
"""
DECK = """
[models.test-llm]
type = "llm"
provider = "openai"
model = "test-model"
"""
KEY = "cli-key"
CHAT = "/v1/chat/completions"
MALFORMED_URLS = ("not a url", "ftp://x", "http://")

runner = CliRunner()


def checked(result: Result, exit_code: int) -> Result:
    """The result, after checking its exit code and that nothing escaped as a traceback."""
    assert result.exit_code == exit_code, (result.stdout, result.stderr)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stdout + result.stderr
    return result


def one_line_error(result: Result, *words: str, followed: bool = False) -> str:
    """The plain failure: nothing on stdout, one `error:` line on stderr naming `words`; the last line
    after the watch's own state lines when the command `followed` a run."""
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    if followed:
        assert [line for line in lines if line.startswith("error")] == lines[-1:], result.stderr
        lines = lines[-1:]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def document(result: Result) -> dict[str, Any]:
    """The `--json` answer: exactly one JSON document on stdout."""
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


@dataclass
class Cli:
    """`methodflow` aimed at one server with one key."""

    server: str
    key: str = KEY

    async def __call__(self, *args: str, code: int = 0, stdin: str | None = None) -> Result:
        arguments = [*args, "--server", self.server, "--api-key", self.key, "--retry-for", "0"]
        result = await asyncio.to_thread(runner.invoke, app, arguments, input=stdin)
        return checked(result, code)


@pytest.fixture(autouse=True)
def no_server_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("METHODFLOW_URL", "METHODFLOW_API_KEY", "METHODFLOW_RETRY_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    neutral_settings(monkeypatch)


@pytest.mark.timeout(180)
async def test_every_command_against_a_server(
    temporal_address: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLOW_SECONDS", "30")
    hello = tmp_path / "hello.mthds"
    hello.write_text(HELLO, encoding="utf-8")
    funcs = tmp_path / "funcs.mthds"
    funcs.write_text(FUNCS, encoding="utf-8")
    model = ModelServer()
    model.script(Fault(path=CHAT, text=DRAFT, times=2))
    async with model_stack(
        temporal_address,
        tmp_path,
        [model],
        deck=DECK,
        keys={"openai": "sk-builder"},
        api_overrides={"builder_model": "test-llm", "auth_mode": "api_key", "api_key": KEY},
        pipe_activity_max_attempts=1,
        pipe_activity_heartbeat_seconds=2,
    ) as stack:
        cli = Cli(stack.base_url)
        run_id = await _runs_to_their_end(cli, hello)
        await _reads_of_a_run(cli, run_id)
        await _failed_and_cancelled_runs(cli, funcs)
        await _bundle_tools(cli, hello, tmp_path)
        await _bad_requests(cli, run_id)


async def _runs_to_their_end(cli: Cli, hello: Path) -> str:
    """`run`, `start`, `start --wait`, `watch`; returns a completed run's id."""
    ran = await cli("run", str(hello), "--input", "name=Ada")
    assert json.loads(ran.stdout) == WELCOME
    ran_json = document(await cli("run", str(hello), "--input", "name=Ada", "--json"))
    assert ran_json["main_stuff"] == WELCOME
    # Inputs from stdin.
    piped = await cli("run", str(hello), "--inputs", "-", "--pretty", stdin='{"name": "Bo"}')
    assert json.loads(piped.stdout)["guest"] == "Bo"

    started = await cli("start", str(hello), "--input", "name=Ada")
    run_id = started.stdout.strip()
    assert run_id
    assert len(started.stdout.splitlines()) == 1
    started_json = document(await cli("start", str(hello), "--input", "name=Ada", "--json"))
    assert started_json["state"] in ("STARTED", "RUNNING", "COMPLETED")

    waited = await cli("start", str(hello), "--input", "name=Ada", "--wait")
    waited_id, state = waited.stdout.split()
    assert state == "COMPLETED"
    waited_json = document(await cli("start", str(hello), "--input", "name=Ada", "--wait", "--json"))
    assert waited_json["state"] == "COMPLETED"

    watched = await cli("watch", run_id)
    assert f"{run_id} COMPLETED\n" in watched.stderr
    assert json.loads(watched.stdout) == WELCOME
    watched_json = document(await cli("watch", waited_id, "--json"))
    assert (watched_json["pipeline_run_id"], watched_json["state"]) == (waited_id, "COMPLETED")
    return run_id


async def _reads_of_a_run(cli: Cli, run_id: str) -> None:
    """`status`, `results`, `runs`, `deliveries`, and `cancel` of a run that has ended."""
    status = await cli("status", run_id)
    assert f"run:      {run_id}" in status.stdout
    assert "state:    COMPLETED" in status.stdout
    assert "pipe:     welcome" in status.stdout
    assert document(await cli("status", run_id, "--json"))["state"] == "COMPLETED"
    # The server and the key from the environment instead of the options.
    environment = {"METHODFLOW_URL": cli.server, "METHODFLOW_API_KEY": KEY}
    from_environment = await asyncio.to_thread(runner.invoke, app, ["status", run_id], env=environment)
    assert "state:    COMPLETED" in checked(from_environment, 0).stdout

    results = await cli("results", run_id)
    assert json.loads(results.stdout) == WELCOME
    assert document(await cli("results", run_id, "--json"))["main_stuff"] == WELCOME

    listed = await _listed(cli, run_id, "runs", "--pipe", "welcome", "--state", "COMPLETED")
    row = next(line for line in listed.stdout.splitlines() if run_id in line)
    assert row.split()[1:3] == ["COMPLETED", "welcome"]
    assert listed.stdout.splitlines()[0].split() == ["id", "state", "pipe", "created", "finished"]
    assert "\x1b" not in listed.stdout  # no colour when stdout is no terminal
    listed_json = document(await cli("runs", "--pipe", "welcome", "--limit", "50", "--json"))
    assert run_id in {item["pipeline_run_id"] for item in listed_json["items"]}
    assert len(document(await cli("runs", "--limit", "1", "--json"))["items"]) == 1

    deliveries = await cli("deliveries", run_id)
    assert deliveries.stdout == f"no callback for the run {run_id}\n"
    assert document(await cli("deliveries", run_id, "--json")) == {"pipeline_run_id": run_id, "items": []}

    ended = await cli("cancel", run_id, code=2)
    one_line_error(ended, "run.already_ended", run_id)
    assert document(await cli("cancel", run_id, "--json", code=2))["code"] == "run.already_ended"


async def _listed(cli: Cli, run_id: str, *args: str) -> Result:
    """`methodflow runs` once the run shows in it: the listing reads Temporal's visibility store,
    updated a moment after the run ends."""
    listed = await cli(*args)
    for _ in range(50):
        if run_id in listed.stdout:
            return listed
        await asyncio.sleep(0.1)
        listed = await cli(*args)
    msg = f"{run_id} never listed: {listed.stdout}"
    raise AssertionError(msg)


async def _failed_and_cancelled_runs(cli: Cli, funcs: Path) -> None:
    """A run that fails and one that is cancelled: exit 1, the run's problem as the line or document."""
    failed = await cli("run", str(funcs), "--pipe", "broken", "--input", "name=x", code=1)
    line = one_line_error(failed, "FAILED", "pipe.function_failed", followed=True)
    assert line.startswith("error: the run ")
    failed_json = document(
        await cli("run", str(funcs), "--pipe", "broken", "--input", "name=x", "--json", code=1)
    )
    assert failed_json["code"] == "pipe.function_failed"

    slow_id = (await cli("start", str(funcs), "--pipe", "slow", "--input", "name=x")).stdout.strip()
    one_line_error(await cli("results", slow_id, code=1), slow_id, "no results yet")
    assert document(await cli("results", slow_id, "--json", code=1))["state"] in ("STARTED", "RUNNING")
    cancelled = await cli("cancel", slow_id, "--reason", "not needed")
    assert cancelled.stdout.startswith(f"cancel requested: {slow_id}")
    one_line_error(await cli("watch", slow_id, code=1), slow_id, "CANCELLED", followed=True)
    assert document(await cli("watch", slow_id, "--json", code=1))["code"]
    assert document(await cli("status", slow_id, "--json"))["state"] == "CANCELLED"
    one_line_error(await cli("results", slow_id, code=1), slow_id)
    assert document(await cli("results", slow_id, "--json", code=1))["code"] in (
        "run.failed",
        "run.cancelled",
    )
    # The cancelled run resumes as a new run; the same new id again finds it (a retried command).
    again = f"{slow_id}-again"
    assert document(await cli("resume", slow_id, "--new-id", again, "--json"))["pipeline_run_id"] == again
    assert (await cli("resume", slow_id, "--new-id", again)).stdout == f"{again}\n"
    await cli("cancel", again)
    assert document(await cli("resume", "no-such-run", "--json", code=2))["code"] == "run.not_found"


async def _bundle_tools(cli: Cli, hello: Path, tmp_path: Path) -> None:
    """`validate`, `format`, `lint`, `inputs` and `build` on the server."""
    assert (await cli("validate", str(hello))).stdout == "valid: 1 bundle\n"
    assert document(await cli("validate", str(hello), "--json"))["is_valid"] is True
    broken = tmp_path / "broken.mthds"
    broken.write_text(
        HELLO.replace(
            'output = "Welcome"\n\n[pipe.wrap.construct]', 'output = "Welcom"\n\n[pipe.wrap.construct]'
        )
    )
    invalid = await cli("validate", str(broken), code=1)
    assert invalid.stdout.startswith("invalid: ")
    assert document(await cli("validate", str(broken), "--json", code=1))["is_valid"] is False

    messy = tmp_path / "messy.mthds"
    messy.write_text(HELLO)  # the reference layout aligns the `=` of a table: hello.mthds does not
    assert (await cli("format", str(messy), "--check", code=1)).stdout == f"would reformat {messy}\n"
    assert document(await cli("format", str(messy), "--check", "--json", code=1))["changed"] is True
    assert messy.read_text() == HELLO  # --check changes nothing
    assert (await cli("format", str(messy))).stdout == f"reformatted {messy}\n"
    assert messy.read_text().startswith('domain      = "hello"\n')
    assert (await cli("format", str(messy), "--check")).stdout == f"{messy} is formatted\n"
    assert document(await cli("format", str(messy), "--json"))["changed"] is False

    assert (await cli("lint", str(hello))).stdout == f"{hello}: clean\n"
    assert document(await cli("lint", str(hello), "--json"))["diagnostics"] == []

    template = await cli("inputs", str(hello))
    assert set(json.loads(template.stdout)) == {"name"}
    answered = document(await cli("inputs", str(hello), "--pipe", "greet", "--json"))
    assert (answered["pipe_ref"], set(answered["inputs"])) == ("hello.greet", {"name"})
    one_line_error(await cli("inputs", str(hello), "--pipe", "nope", code=2), "request.pipe_not_found")

    out = tmp_path / "built.mthds"
    built = await cli("build", "Greet a guest by name.", "-o", str(out))
    assert built.stdout == f"wrote {out}: pipe greetings.greet\n"
    assert 'output = "Text"' in out.read_text()
    built_json = document(await cli("build", "Greet a guest by name.", "--json"))
    assert built_json["is_valid"] is True
    assert "greetings" in built_json["mthds_content"]


async def _bad_requests(cli: Cli, run_id: str) -> None:
    """An unknown run and a wrong key: refused, exit 2."""
    one_line_error(await cli("status", "no-such-run", code=2), "run.not_found", "no-such-run")
    unknown = document(await cli("results", "no-such-run", "--json", code=2))
    assert (unknown["code"], unknown["status"]) == ("run.not_found", 404)
    one_line_error(await cli("watch", "no-such-run", code=2), "run.not_found", "no-such-run")
    assert document(await cli("watch", "no-such-run", "--json", code=2))["code"] == "run.not_found"

    wrong = Cli(cli.server, key="wrong-key")
    one_line_error(await wrong("status", run_id, code=2), "auth.invalid_credential")
    assert document(await wrong("runs", "--json", code=2))["code"] == "auth.invalid_credential"


def _invoke(args: Sequence[str], code: int, stdin: str | None = None) -> Result:
    return checked(runner.invoke(app, list(args), input=stdin), code)


@pytest.mark.parametrize("json_mode", [False, True], ids=["plain", "json"])
def test_bad_input_without_a_server_is_one_line_and_its_exit_code(tmp_path: Path, json_mode: bool) -> None:
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    hello = tmp_path / "hello.mthds"
    hello.write_text(HELLO, encoding="utf-8")
    not_json = tmp_path / "inputs.json"
    not_json.write_text("name: Ada", encoding="utf-8")
    flag = ["--json"] if json_mode else []
    # (arguments, stdin, exit code, words of the line, code of the problem document)
    cases: list[tuple[list[str], str | None, int, tuple[str, ...], str]] = [
        (["status", "r-1", "--server", down, "--retry-for", "0"], None, 3, (down,), "cli.service_unavailable"),
        (["status", "r-1"], None, 2, ("--server", "METHODFLOW_URL"), "cli.no_server"),
        (["start", str(tmp_path / "gone.mthds"), "--server", down], None, 2, ("gone.mthds",), "cli.input_unreadable"),
        (["run", str(hello), "--inputs", str(not_json), "--server", down], None, 2, ("inputs.json", "JSON"), "cli.input_unreadable"),
        (["start", str(hello), "--inputs", "-", "--server", down], "{not json", 2, ("stdin", "JSON"), "cli.input_unreadable"),
        (["run", str(hello), "--inputs", str(not_json)], None, 2, ("inputs.json", "JSON"), "cli.input_unreadable"),
        (["validate", str(tmp_path / "gone.mthds")], None, 2, ("gone.mthds",), "cli.input_unreadable"),
        (["run", str(hello), "--dry-run", "--server", down], None, 2, ("--dry-run",), "cli.option_local_only"),
        (["format", str(tmp_path / "gone.mthds")], None, 2, ("gone.mthds",), "cli.input_unreadable"),
    ]  # fmt: skip
    cases += [
        (["status", "r-1", "--server", url], None, 2, ("--server", url), "cli.server_url_invalid")
        for url in MALFORMED_URLS
    ]
    for args, stdin, code, words, problem_code in cases:
        result = _invoke([*args, *flag], code, stdin)
        if json_mode:
            assert document(result)["code"] == problem_code, args
        else:
            one_line_error(result, *words)


def test_bundle_tools_in_this_process(tmp_path: Path) -> None:
    hello = tmp_path / "hello.mthds"
    hello.write_text(HELLO, encoding="utf-8")
    assert _invoke(["format", str(hello), "--check"], 1).stdout == f"would reformat {hello}\n"
    assert hello.read_text() == HELLO
    assert _invoke(["format", str(hello)], 0).stdout == f"reformatted {hello}\n"
    assert hello.read_text().startswith('domain      = "hello"\n')
    assert document(_invoke(["format", str(hello), "--check", "--json"], 0))["changed"] is False
    assert _invoke(["lint", str(hello)], 0).stdout == f"{hello}: clean\n"
    assert document(_invoke(["lint", str(hello), "--json"], 0))["diagnostics"] == []
    assert set(json.loads(_invoke(["inputs", str(hello)], 0).stdout)) == {"name"}
    assert (
        document(_invoke(["inputs", str(hello), "--pipe", "wrap", "--json"], 0))["pipe_ref"] == "hello.wrap"
    )
    one_line_error(_invoke(["inputs", str(hello), "--pipe", "nope"], 2), "nope")
    assert document(_invoke(["validate", str(hello), "--json"], 0))["is_valid"] is True
    ran = document(_invoke(["run", str(hello), "--input", "name=Ada", "--json"], 0))
    assert ran == {"state": "COMPLETED", "main_stuff": WELCOME}
    refused = document(_invoke(["run", str(hello), "--json"], 1))
    assert refused["code"] == "input.missing"
