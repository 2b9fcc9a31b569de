"""`methodflow`'s output layer without a server: the exit code of each kind of client error, the problem
document and line each prints, and which `--server` URLs are refused before any request."""

from __future__ import annotations

import json
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from client.errors import (
    AccountProblem,
    InputProblem,
    MethodflowError,
    OperatorProblem,
    RuntimeProblem,
    ServiceUnavailable,
    WaitTimeout,
)
from worker.cli_connection import server_url
from worker.cli_output import (
    EXIT_FAILED,
    EXIT_REFUSED,
    EXIT_UNAVAILABLE,
    CliProblem,
    Output,
    error_document,
    exit_code_of,
    problem_line,
)
from worker.cli_views import on_screen

NOT_FOUND: dict[str, Any] = {
    "type": "https://mthds.ai/errors/run.not_found",
    "title": "No such run",
    "status": 404,
    "detail": "No run 'nope' is visible to this caller.",
    "code": "run.not_found",
    "domain": "input",
}


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (InputProblem("no run", status=404, code="run.not_found"), EXIT_REFUSED),
        (InputProblem("ended", status=409, code="run.already_ended"), EXIT_REFUSED),
        (AccountProblem("refused", status=401, code="auth.invalid_credential"), EXIT_REFUSED),
        (RuntimeProblem("failed", status=409, code="run.failed"), EXIT_FAILED),
        (InputProblem("cancelled", status=409, code="run.cancelled"), EXIT_FAILED),
        (WaitTimeout("still running"), EXIT_FAILED),
        (ServiceUnavailable("nothing listens", domain="runtime"), EXIT_UNAVAILABLE),
        (RuntimeProblem("busy", status=503, code="runtime.unavailable"), EXIT_UNAVAILABLE),
        (OperatorProblem("broken", status=500, code="runtime.unexpected"), EXIT_UNAVAILABLE),
        (MethodflowError("odd", status=418), EXIT_REFUSED),
    ],
    ids=lambda value: (
        value.code or type(value).__name__ if isinstance(value, MethodflowError) else str(value)
    ),
)
def test_each_kind_of_error_has_its_exit_code(error: MethodflowError, expected: int) -> None:
    assert exit_code_of(error) == expected


def test_a_served_problem_is_printed_as_received() -> None:
    error = InputProblem(NOT_FOUND["detail"], status=404, code="run.not_found", problem=NOT_FOUND)
    assert error_document(error) == NOT_FOUND


def test_an_unreachable_service_gets_a_problem_document_of_the_command_line() -> None:
    document = error_document(ServiceUnavailable("could not be reached", domain="runtime"))
    assert document["code"] == "cli.service_unavailable"
    assert document["title"] == "The service is unavailable"
    assert "status" not in document
    timed_out = error_document(WaitTimeout("not ended", problem={"pipeline_run_id": "r-1"}))
    assert (timed_out["code"], timed_out["pipeline_run_id"]) == ("cli.wait_timeout", "r-1")


def test_a_problem_line_is_one_line() -> None:
    assert (
        problem_line("run.not_found", "No run 'x'\n  is visible.")
        == "error: run.not_found: No run 'x' is visible."
    )
    assert problem_line(None, "no server") == "error: no server"


@pytest.mark.parametrize("url", ["http://127.0.0.1:8081", "https://methodflow.example/", "HTTP://host"])
def test_http_urls_with_a_host_are_accepted(url: str) -> None:
    assert server_url(url) == url.rstrip("/")


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "ftp://x",
        "http://",
        "127.0.0.1:8081",
        "http://host:port",
        "http://[::1",
        "http://h:0",
        "",
    ],
)
def test_malformed_server_urls_are_refused_before_any_request(url: str) -> None:
    with pytest.raises(CliProblem) as refused:
        server_url(url)
    assert refused.value.code == "cli.server_url_invalid"
    assert refused.value.exit_code == EXIT_REFUSED


def _failing_command(json_mode: bool) -> None:
    Output(json_mode=json_mode).refuse(CliProblem("cli.input_unreadable", "b.mthds: cannot read"))


@pytest.mark.parametrize("json_mode", [False, True])
def test_a_refusal_is_a_line_on_stderr_or_a_document_on_stdout(json_mode: bool) -> None:
    app = typer.Typer()
    app.command()(lambda: _failing_command(json_mode))
    result = CliRunner().invoke(app, [])
    assert result.exit_code == EXIT_REFUSED
    if json_mode:
        assert json.loads(result.stdout)["code"] == "cli.input_unreadable"
        assert result.stderr == ""
    else:
        assert result.stdout == ""
        assert result.stderr == "error: b.mthds: cannot read\n"


def test_watch_leaves_a_short_result_whole_and_a_long_one_cut_with_the_way_to_read_it() -> None:
    assert on_screen('{"text": "hi"}', "run-1") == '{"text": "hi"}'
    long = "x" * 5000
    shown = on_screen(long, "run-1")
    assert shown.startswith("x" * 1200 + "…\n")
    assert shown.endswith("(5,000 characters: methodflow results run-1 prints them all)")
