"""What a person sees of `methodflow` before running anything: `--version`, help screens that name
values as they are typed, and a start that does not import the provider SDKs, Temporal or boto3.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib.metadata import version

import pytest
from typer.testing import CliRunner

from worker.cli import app

runner = CliRunner()

# Every command's help screen, and the top-level one.
HELP_SCREENS = [
    [],
    ["validate"],
    ["run"],
    ["start"],
    ["watch"],
    ["status"],
    ["results"],
    ["runs"],
    ["cancel"],
    ["deliveries"],
    ["format"],
    ["lint"],
    ["inputs"],
    ["build"],
    ["worker"],
    ["dev"],
    ["version"],
    ["callbacks"],
    ["callbacks", "listen"],
]
# Modules that cost seconds (or tenths of one) to import and that no help screen needs.
HEAVY_MODULES = ("openai", "anthropic", "temporalio", "boto3", "client", "rich", "httpx")


def test_version_option_prints_the_installed_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"methodflow {version('methodflow')}\n"


@pytest.mark.parametrize("command", HELP_SCREENS, ids=lambda command: " ".join(command) or "methodflow")
def test_help_names_values_as_they_are_typed(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"], prog_name="methodflow")
    assert result.exit_code == 0, result.output
    assert "Usage: methodflow" in result.stdout
    # Python type names (`<bool>`, `<list[Path]>`, `<str>`, `<int>`...) are for the code, not the reader.
    assert not re.search(r"<[\w\[\], |]+>", result.stdout), result.stdout


def test_run_help_shows_its_metavars() -> None:
    result = runner.invoke(app, ["run", "--help"], prog_name="methodflow")
    assert "Usage: methodflow run [OPTIONS] BUNDLE..." in result.stdout
    for shown in ("--inputs FILE", "--input NAME=VALUE", "--pipe PIPE", "--storage DIR", "BUNDLE..."):
        assert shown in result.stdout


def test_version_as_json() -> None:
    result = runner.invoke(app, ["version", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "implementation": "methodflow",
        "implementation_version": version("methodflow"),
    }


def test_the_top_help_names_the_exit_codes_and_offers_completion() -> None:
    result = runner.invoke(app, ["--help"], prog_name="methodflow")
    assert result.exit_code == 0, result.output
    assert "3 service unavailable" in result.stdout
    assert "--install-completion" in result.stdout


def test_server_commands_show_their_server_options() -> None:
    result = runner.invoke(app, ["status", "--help"], prog_name="methodflow")
    assert "Usage: methodflow status [OPTIONS] RUN_ID" in result.stdout
    for shown in ("--server URL", "METHODFLOW_URL", "--api-key KEY", "METHODFLOW_API_KEY", "--json"):
        assert shown in result.stdout


def test_importing_the_command_line_leaves_the_heavy_modules_out() -> None:
    probe = f"import sys, worker.cli; print(sorted(set({HEAVY_MODULES!r}) & set(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


def test_reading_the_worker_settings_leaves_the_provider_sdks_out() -> None:
    # `validate` and `run` read the settings; the SDKs load only when a model is called.
    probe = (
        "import sys, worker.settings, worker.in_process; "
        "print(sorted({'openai', 'anthropic', 'temporalio'} & set(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
