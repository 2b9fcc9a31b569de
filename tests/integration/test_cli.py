"""The `methodflow` command line: verdict lines, error lines, exit codes, and the installed console script."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shared.language.issues import Category, ErrorType, Issue
from worker.cli import app, format_issue

VALID_BUNDLE = """\
domain      = "berth_notes"
description = "Notes telling vessels where to moor"
main_pipe   = "write_berth_note"

[pipe.write_berth_note]
type        = "PipeCompose"
description = "Write the berth note for a vessel"
inputs      = { vessel = "Text" }
output      = "Text"
template    = "Berth note for $vessel"
"""

# `$tide` is read but no input declares it.
UNDECLARED_INPUT_BUNDLE = VALID_BUNDLE.replace(
    "Berth note for $vessel", "Berth note for $vessel on the $tide tide"
)

OTHER_VALID_BUNDLE = """\
domain      = "tide_notes"
description = "Notes about the tide"

[pipe.write_tide_note]
type        = "PipeCompose"
description = "Write the tide note"
inputs      = { tide_times = "Text" }
output      = "Text"
template    = "Tide times: $tide_times"
"""

SYNTAX_ERROR_BUNDLE = """\
domain      = "berth_notes"
description = "Notes telling vessels where to moor"
this line is not toml
"""

runner = CliRunner()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_bundle_exits_zero_with_a_verdict_line(tmp_path: Path) -> None:
    bundle = write(tmp_path / "bundle.mthds", VALID_BUNDLE)
    result = runner.invoke(app, ["validate", str(bundle)])
    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"valid: 1 bundle, \d+ pipes?", result.stdout.splitlines()[0])


def test_invalid_bundle_exits_one_and_locates_each_error(tmp_path: Path) -> None:
    bundle = write(tmp_path / "bundle.mthds", UNDECLARED_INPUT_BUNDLE)
    result = runner.invoke(app, ["validate", str(bundle)])
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "invalid: 1 error"
    expected = (
        rf"{re.escape(str(bundle))}(:\d+)?: \[write_berth_note\] "
        r"method\.input_undeclared \(missing_input_variable\): .*tide.*"
    )
    assert re.fullmatch(expected, lines[1])


def test_syntax_error_is_located_by_line(tmp_path: Path) -> None:
    bundle = write(tmp_path / "bundle.mthds", SYNTAX_ERROR_BUNDLE)
    result = runner.invoke(app, ["validate", str(bundle)])
    assert result.exit_code == 1, result.output
    assert re.fullmatch(rf"{re.escape(str(bundle))}:3: method\.syntax: .+", result.stdout.splitlines()[1])


def test_directory_means_every_bundle_under_it_as_one_library(tmp_path: Path) -> None:
    write(tmp_path / "method" / "bundle.mthds", VALID_BUNDLE)
    write(tmp_path / "method" / "notes" / "tide.mthds", OTHER_VALID_BUNDLE)
    write(tmp_path / "method" / "README.md", "not a bundle")
    result = runner.invoke(app, ["validate", str(tmp_path / "method")])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("valid: 2 bundles, ")


def missing_file(root: Path) -> Path:
    return root / "missing.mthds"


def directory_without_bundles(root: Path) -> Path:
    write(root / "notes.txt", "no bundle here")
    return root


def latin1_file(root: Path) -> Path:
    path = root / "latin1.mthds"
    path.write_bytes(b'domain = "caf\xe9"\n')
    return path


@pytest.mark.parametrize(
    ("make_target", "message"),
    [
        (missing_file, "cannot read"),
        (directory_without_bundles, "no *.mthds file"),
        (latin1_file, "not UTF-8"),
    ],
)
def test_unreadable_input_exits_two_without_traceback(
    tmp_path: Path, make_target: Callable[[Path], Path], message: str
) -> None:
    result = runner.invoke(app, ["validate", str(make_target(tmp_path))])
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_version_prints_the_installed_version() -> None:
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"methodflow {version('methodflow')}"


def test_format_issue_leaves_out_unknown_parts() -> None:
    bare = Issue(category=Category.BLUEPRINT, message="something is off")
    assert format_issue(bare) == "method.schema_violation: something is off"
    located = Issue(
        category=Category.PIPE,
        message="reads $tide",
        error_type=ErrorType.MISSING_INPUT_VARIABLE,
        file="a.mthds",
        pipe="write_note",
        line=4,
    )
    assert (
        format_issue(located)
        == "a.mthds:4: [write_note] method.input_undeclared (missing_input_variable): reads $tide"
    )
    assert format_issue(located.model_copy(update={"line": None})).startswith("a.mthds: [write_note] ")


def test_console_script_validates_a_bundle(tmp_path: Path) -> None:
    bundle = write(tmp_path / "bundle.mthds", VALID_BUNDLE)
    script = Path(sys.executable).parent / "methodflow"
    done = subprocess.run([str(script), "validate", str(bundle)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("valid: 1 bundle, ")
