"""What `methodflow` prints and how it exits: plain lines or, with `--json`, exactly one JSON document
on stdout; a problem as one `error: ...` line on stderr (or its problem document on stdout with
`--json`); and the exit code each outcome gets.

Exit codes: 0 done; 1 the run failed, was cancelled or has not ended, the method is invalid, or the file
would be reformatted; 2 a usage error or a request the service refused (a 4xx problem, an unreadable
file, inputs that are not JSON, a malformed `--server` URL); 3 the service is unavailable (nothing
listens, or it kept answering 429/502/503/504 until the retries ran out, or a 5xx); 130 Ctrl-C stopped
watching a run (which goes on).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import typer

from client.errors import MethodflowError, ServiceUnavailable, WaitTimeout

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_REFUSED = 2
EXIT_UNAVAILABLE = 3
EXIT_INTERRUPTED = 130  # the shell's code for SIGINT

# The codes that tell a run's own end, not a refusal of the request.
RUN_END_CODES = frozenset({"run.failed", "run.cancelled"})
UNAVAILABLE_STATUSES = frozenset({429, 502, 503, 504})
# The client's own failures, which no problem document came with.
_CLIENT_TITLES: dict[type[MethodflowError], str] = {
    ServiceUnavailable: "The service is unavailable",
    WaitTimeout: "The run did not end in time",
}
_CLIENT_CODES: dict[type[MethodflowError], str] = {
    ServiceUnavailable: "cli.service_unavailable",
    WaitTimeout: "cli.wait_timeout",
}


class CliProblem(Exception):
    """A problem the command line finds itself, before or without the service (an unreadable file, a
    malformed URL, no server): `code` names it as the service names its own (`cli.*`)."""

    def __init__(self, code: str, detail: str, *, exit_code: int = EXIT_REFUSED, title: str = "") -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.exit_code = exit_code
        self.title = title or "The command cannot be carried out"

    def document(self) -> dict[str, Any]:
        """An RFC 7807 problem document shaped like the service's, without an HTTP status."""
        return {"type": "about:blank", "title": self.title, "detail": self.detail, "code": self.code}


def exit_code_of(error: MethodflowError) -> int:
    """The exit code of a client error: see the module docstring."""
    if isinstance(error, ServiceUnavailable):
        return EXIT_UNAVAILABLE
    if isinstance(error, WaitTimeout) or error.code in RUN_END_CODES:
        return EXIT_FAILED
    if error.status is None or error.status in UNAVAILABLE_STATUSES or error.status >= 500:
        return EXIT_UNAVAILABLE
    return EXIT_REFUSED


def error_document(error: MethodflowError) -> dict[str, Any]:
    """The service's problem document as received, or one made from the error when none came."""
    if error.status is not None and error.problem:
        return error.problem
    title = _CLIENT_TITLES.get(type(error), "The request failed")
    document: dict[str, Any] = {"type": "about:blank", "title": title, "detail": error.detail}
    if error.status is not None:
        document["status"] = error.status
    document["code"] = error.code or _CLIENT_CODES.get(type(error), "cli.request_failed")
    if error.domain:
        document["domain"] = error.domain
    if isinstance(error, WaitTimeout) and error.pipeline_run_id:
        document["pipeline_run_id"] = error.pipeline_run_id
    return document


def problem_line(code: str | None, detail: str) -> str:
    """`error: <code>: <detail>` on one line, whatever the detail holds."""
    text = " ".join(detail.split())
    return f"error: {code}: {text}" if code else f"error: {text}"


class Output:
    """Where a command's answer goes: `json_mode` makes it one JSON document, else plain lines."""

    def __init__(self, *, json_mode: bool) -> None:
        self.json_mode = json_mode

    def answer(self, document: Any, plain: Callable[[], None], *, exit_code: int = EXIT_OK) -> None:
        """Print the answer: `document` as JSON, or what `plain` prints; then exit with `exit_code`."""
        if self.json_mode:
            print_json(document)
        else:
            plain()
        if exit_code != EXIT_OK:
            raise typer.Exit(exit_code)

    def refuse(self, problem: CliProblem) -> NoReturn:
        # The command line's own problems read as a sentence; their code is for scripts (`--json`).
        self._fail(problem.document(), problem_line(None, problem.detail), problem.exit_code)

    def fail(self, error: MethodflowError) -> NoReturn:
        self._fail(error_document(error), problem_line(error.code, error.detail), exit_code_of(error))

    def _fail(self, document: dict[str, Any], line: str, exit_code: int) -> NoReturn:
        if self.json_mode:
            print_json(document)
        else:
            typer.echo(line, err=True)
        raise typer.Exit(exit_code)


def print_json(document: Any) -> None:
    """One JSON document on stdout, indented for a reader, flushed."""
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()
