"""`methodflow run`: main output on stdout, progress on stderr, typed failures and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from tests.helpers.cli_environment import neutral_settings
from tests.integration.test_cli import VALID_BUNDLE, write
from worker.cli import app
from worker.settings import get_worker_settings

runner = CliRunner()

LLM_BUNDLE = """\
domain      = "delays"
description = "Platform notices"
main_pipe   = "write_notice"

[pipe.write_notice]
type        = "PipeLLM"
description = "Write the notice"
inputs      = { report = "Text" }
output      = "Text"
prompt      = "Write a one-line notice for: $report"
"""

DOC_BUNDLE = """\
domain      = "notices"
description = "Printed notices"
main_pipe   = "print_notice"

[concept.Hours]
description = "Opening hours"

[concept.Hours.structure]
shop = { type = "text", description = "Shop", required = true }
weekdays = { type = "text", description = "Weekday hours", required = true }

[pipe.print_notice]
type        = "PipeDocGen"
description = "Prints the opening hours"
inputs      = { hours = "Hours" }
output      = "Document"
format      = "pdf"
filename    = "hours-{{ hours.shop }}"
"""


@pytest.fixture(autouse=True)
def worker_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # A provider key in the developer's shell must not make the model.unavailable test call a model.
    neutral_settings(monkeypatch)
    yield
    get_worker_settings.cache_clear()


def test_run_prints_the_main_output_and_a_progress_line_per_pipe(tmp_path: Path) -> None:
    bundle = write(tmp_path / "bundle.mthds", VALID_BUNDLE)
    result = runner.invoke(app, ["run", str(bundle), "--input", "vessel=Kerlann"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"text": "Berth note for Kerlann"}
    assert "done  berth_notes.write_berth_note" in result.stderr


def test_run_reads_an_inputs_file_and_prints_text_when_pretty(tmp_path: Path) -> None:
    bundle = write(tmp_path / "bundle.mthds", VALID_BUNDLE)
    inputs = write(tmp_path / "inputs.json", json.dumps({"vessel": {"concept": "Text", "content": "Ar Men"}}))
    result = runner.invoke(app, ["run", str(bundle), "--inputs", str(inputs), "--pretty"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "Berth note for Ar Men\n"


def test_run_memory_prints_the_reference_pipe_output(tmp_path: Path) -> None:
    bundle = write(tmp_path / "bundle.mthds", VALID_BUNDLE)
    result = runner.invoke(app, ["run", str(bundle), "--input", "vessel=Kerlann", "--memory"])
    output = json.loads(result.stdout)
    # An operator run without a result name stores its output under `main_stuff`, named after its concept.
    assert output["working_memory"]["root"]["main_stuff"]["stuff_name"] == "text"
    assert output["working_memory"]["root"]["vessel"]["content"] == {"text": "Kerlann"}
    assert output["tokens_usages"] == []


def test_a_dry_run_mocks_the_model_and_a_real_run_says_no_model_is_configured(tmp_path: Path) -> None:
    bundle = write(tmp_path / "bundle.mthds", LLM_BUNDLE)
    dry = runner.invoke(app, ["run", str(bundle), "--dry-run", "--input", "report=Train late"])
    assert dry.exit_code == 0, dry.stderr
    assert json.loads(dry.stdout)["text"].startswith("DRY RUN: llm_gen_text")
    real = runner.invoke(app, ["run", str(bundle), "--input", "report=Train late"])
    assert real.exit_code == 1
    assert "run failed in pipe 'write_notice': model.unavailable" in real.stderr
    assert real.stdout == ""


def test_a_document_is_written_to_the_storage_directory(tmp_path: Path) -> None:
    bundle = write(tmp_path / "bundle.mthds", DOC_BUNDLE)
    storage = tmp_path / "storage"
    hours = json.dumps({"shop": "Ty Coz", "weekdays": "9:00 to 18:00"})
    result = runner.invoke(app, ["run", str(bundle), "--input", f"hours={hours}", "--storage", str(storage)])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["filename"] == "hours-Ty-Coz.pdf"
    (pdf,) = storage.rglob("*.pdf")
    assert document["public_url"] == pdf.resolve().as_uri()
    assert "9:00 to 18:00" in PdfReader(pdf).pages[0].extract_text()


def test_refusals_exit_1_with_their_code(tmp_path: Path) -> None:
    bundle = write(tmp_path / "bundle.mthds", VALID_BUNDLE)
    missing = runner.invoke(app, ["run", str(bundle)])
    assert missing.exit_code == 1
    assert "refused: input.missing" in missing.stderr
    unknown_pipe = runner.invoke(app, ["run", str(bundle), "--pipe", "no_such_pipe", "--input", "vessel=x"])
    assert unknown_pipe.exit_code == 1
    assert "request.pipe_not_found" in unknown_pipe.stderr
    invalid = write(tmp_path / "invalid.mthds", VALID_BUNDLE.replace("$vessel", "$vessel $tide"))
    result = runner.invoke(app, ["run", str(invalid), "--input", "vessel=x"])
    assert result.exit_code == 1
    assert "invalid method" in result.stderr
    assert "method.input_undeclared" in result.stderr


def test_unreadable_inputs_exit_2(tmp_path: Path) -> None:
    bundle = write(tmp_path / "bundle.mthds", VALID_BUNDLE)
    no_equals = runner.invoke(app, ["run", str(bundle), "--input", "vessel"])
    assert no_equals.exit_code == 2
    assert "expected name=value" in no_equals.stderr
    broken = write(tmp_path / "inputs.json", "{not json")
    bad_file = runner.invoke(app, ["run", str(bundle), "--inputs", str(broken)])
    assert bad_file.exit_code == 2
    not_object = write(tmp_path / "list.json", "[1, 2]")
    assert runner.invoke(app, ["run", str(bundle), "--inputs", str(not_object)]).exit_code == 2


def test_the_console_script_runs_a_bundle(tmp_path: Path) -> None:
    bundle = write(tmp_path / "bundle.mthds", VALID_BUNDLE)
    script = Path(sys.executable).with_name("methodflow")
    done = subprocess.run(
        [str(script), "run", str(bundle), "--input", "vessel=Kerlann", "--pretty"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Berth note for Kerlann\n"
