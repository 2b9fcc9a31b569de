"""`methodflow`'s bundle tools: `format`, `lint` and `inputs` (in this process with the service's own
core, or on `--server`), `build` (a server's Pipe Builder), and `validate --server`.

`format` rewrites the file in place (`--check`: only say whether it would, exit 1 if so), as code
formatters do; `--json` prints the formatted text instead of a line.
Imports are made when a command runs: `methodflow --help` stays light.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from worker.cli_options import DEFAULT_RETRY_SECONDS, ApiKey, Json, OneBundle, RetryFor, Server

if TYPE_CHECKING:
    from client.models import ValidationVerdict
    from worker.cli_output import Output


def format_bundle(
    path: OneBundle,
    check: Annotated[
        bool, typer.Option("--check", help="Change nothing; exit 1 if it would reformat.")
    ] = False,
    server: Server = None,
    api_key: ApiKey = None,
    retry_for: RetryFor = DEFAULT_RETRY_SECONDS,
    json: Json = False,
) -> None:
    """Lay out a bundle as the reference does, in place, comments kept.

    Exit 0 formatted (or already so), 1 with --check when it would change, or when it is not valid TOML.
    """
    from worker.cli_calls import command_call
    from worker.cli_output import EXIT_FAILED
    from worker.cli_sources import read_text

    with command_call(server, api_key, retry_for, json=json) as call:
        text = read_text(path)
        if server is None:
            from shared.tooling.mthds_format import format_mthds

            outcome = format_mthds(text)
            formatted, changed = outcome.formatted, outcome.changed
            diagnostics = [item.model_dump(mode="json") for item in outcome.diagnostics]
        else:
            with call.session() as methodflow:
                answer = methodflow.format(text, source=path.name)
            formatted, changed, diagnostics = answer.formatted, answer.changed, answer.diagnostics
        if not changed and diagnostics:
            line = f"error: {path}: cannot be formatted: {_diagnostic_text(diagnostics[0])}"
            document = {"path": str(path), "changed": False, "diagnostics": diagnostics}
            call.answer(document, lambda: line, err=True, exit_code=EXIT_FAILED)
            return
        if changed and not check:
            path.write_text(formatted, encoding="utf-8")
        if check:
            line = f"would reformat {path}" if changed else f"{path} is formatted"
        else:
            line = f"reformatted {path}" if changed else f"{path} unchanged"
        document = {"path": str(path), "changed": changed, "written": changed and not check}
        document |= {"formatted": formatted, "diagnostics": diagnostics}
        call.answer(document, lambda: line, exit_code=EXIT_FAILED if check and changed else 0)


def lint(
    path: OneBundle,
    server: Server = None,
    api_key: ApiKey = None,
    retry_for: RetryFor = DEFAULT_RETRY_SECONDS,
    json: Json = False,
) -> None:
    """Lint a bundle: TOML syntax, bundle shape and MTHDS validation, with line and column.

    Exit 0 without errors (warnings allowed), 1 with any error.
    """
    from worker.cli_calls import command_call
    from worker.cli_output import EXIT_FAILED
    from worker.cli_sources import read_text

    with command_call(server, api_key, retry_for, json=json) as call:
        text = read_text(path)
        if server is None:
            from shared.tooling.mthds_lint import lint_mthds
            from worker.cli_settings import model_deck, worker_settings

            found = lint_mthds(text, model_deck(worker_settings()), source=str(path))
            diagnostics = [item.model_dump(mode="json") for item in found]
        else:
            with call.session() as methodflow:
                diagnostics = methodflow.lint(text, source=str(path)).diagnostics
        errors = [item for item in diagnostics if item.get("severity") == "error"]
        lines = [f"{_where(path, item)} {_diagnostic_text(item)}" for item in diagnostics]
        plain = "\n".join(lines) if lines else f"{path}: clean"
        document = {"path": str(path), "diagnostics": diagnostics}
        call.answer(document, lambda: plain, exit_code=EXIT_FAILED if errors else 0)


def inputs(
    path: OneBundle,
    pipe: Annotated[
        str | None, typer.Option("--pipe", metavar="PIPE", help="The pipe (default: the main_pipe).")
    ] = None,
    server: Server = None,
    api_key: ApiKey = None,
    retry_for: RetryFor = DEFAULT_RETRY_SECONDS,
    json: Json = False,
) -> None:
    """Print the inputs template of a pipe, as JSON ready for run --inputs.

    Exit 1 when the bundle is invalid, 2 when the pipe is not found.
    """
    from worker.cli_calls import command_call
    from worker.cli_sources import read_text

    with command_call(server, api_key, retry_for, json=json) as call:
        text = read_text(path)
        if server is None:
            answer = _local_inputs(path, text, pipe)
        else:
            with call.session() as methodflow:
                verdict = methodflow.build_inputs(mthds_contents=[text], pipe_ref=pipe)
            answer = verdict.model_dump(mode="json")
        _print_verdict(call.output, answer, lambda: typer.echo(_json_text(answer.get("inputs"))))


def build(
    brief: Annotated[str, typer.Argument(metavar="BRIEF", show_default=False, help="What the method does.")],
    out: Annotated[
        Path | None,
        typer.Option("-o", "--output", metavar="FILE", help="Write the bundle here (default: stdout)."),
    ] = None,
    server: Server = None,
    api_key: ApiKey = None,
    retry_for: RetryFor = DEFAULT_RETRY_SECONDS,
    json: Json = False,
) -> None:
    """Build a bundle from a brief with the server's Pipe Builder.

    The bundle is written even when it does not validate (exit 1, its errors listed).
    """
    from worker.cli_calls import server_call

    with server_call(server, api_key, retry_for, json=json) as call:
        output = call.output
        verdict = call.methodflow.build_pipeline(brief)
        answer = verdict.model_dump(mode="json")
        bundle = str(answer.get("mthds_content") or "")
        if out is not None and bundle:
            out.write_text(bundle, encoding="utf-8")
            answer["written_to"] = str(out)
        if out is None:
            _print_verdict(output, answer, lambda: typer.echo(bundle, nl=not bundle.endswith("\n")))
            return
        wrote = f"wrote {out}: pipe {answer.get('pipe_ref')}" if verdict.is_valid else f"wrote {out}"
        if not output.json_mode and bundle:
            typer.echo(wrote, err=not verdict.is_valid)
        _print_verdict(output, answer, lambda: None)


def validate_remote(
    paths: list[Path], *, server: str, api_key: str | None, retry_for: float, json: bool
) -> None:
    """`methodflow validate --server`: the server's verdict on the bundles as one method."""
    from worker.cli_calls import server_call
    from worker.cli_sources import read_bundle_texts

    with server_call(server, api_key, retry_for, json=json) as call:
        texts = read_bundle_texts(paths)
        verdict: ValidationVerdict = call.methodflow.validate(mthds_contents=list(texts.values()))
        count = len(texts)
        valid_line = f"valid: {count} bundle" + ("" if count == 1 else "s")
        _print_verdict(call.output, verdict.model_dump(mode="json"), lambda: typer.echo(valid_line))


def _local_inputs(path: Path, text: str, pipe: str | None) -> dict[str, Any]:
    """The `/v1/build/inputs` answer computed here: the invalid arm, or the pipe's light template."""
    from shared.language.report import BundleSource
    from shared.language.validator import validate_sources
    from shared.runtime.caller_inputs import InputRefused
    from shared.runtime.run_pipeline import select_pipe
    from shared.tooling.input_forms import input_form
    from shared.tooling.inputs_template import inputs_template
    from worker.cli_output import CliProblem
    from worker.cli_settings import model_deck, worker_settings

    report = validate_sources([BundleSource(path=str(path), text=text)], model_deck(worker_settings()))
    if not report.is_valid or report.library is None:
        return {"is_valid": False, "errors": [issue.to_problem_item() for issue in report.issues]}
    try:
        pipe_ref = select_pipe(report.library, report.default_pipe_ref, pipe)
    except InputRefused as refused:
        raise CliProblem(refused.code, refused.message) from refused
    contracts = {pipe_ref: report.pipe_io_contracts[pipe_ref]}
    form = input_form(report.library, report.bundle_blueprints, contracts)[pipe_ref]
    return {"is_valid": True, "pipe_ref": pipe_ref, "inputs": inputs_template(form, explicit=False)}


def _print_verdict(output: Output, answer: dict[str, Any], valid: Callable[[], None]) -> None:
    """A verdict: `valid()` prints the valid arm; the invalid one is its errors, exit 1."""
    from worker.cli_output import EXIT_FAILED

    if answer.get("is_valid"):
        output.answer(answer, valid)
        return
    errors: list[dict[str, Any]] = answer.get("errors") or []
    lines = [f"invalid: {len(errors)} error" + ("" if len(errors) == 1 else "s")]
    lines += [_diagnostic_text(error) for error in errors]
    output.answer(answer, lambda: typer.echo("\n".join(lines)), exit_code=EXIT_FAILED)


def _where(path: Path, diagnostic: dict[str, Any]) -> str:
    found: dict[str, Any] = diagnostic.get("range") or {}
    line, column = found.get("start_line"), found.get("start_column")
    return f"{path}:{line}:{column}:" if line is not None else f"{path}:"


def _diagnostic_text(item: dict[str, Any]) -> str:
    """A diagnostic (`severity`, `message`) or a problem item (`code`, `detail`) on one line."""
    head = item.get("severity") or item.get("code") or "error"
    message = " ".join(str(item.get("message") or item.get("detail") or "").split())
    return f"{head}: {message}"


def _json_text(value: Any) -> str:
    import json

    return json.dumps(value, indent=2, ensure_ascii=False)
