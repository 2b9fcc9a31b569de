"""The frame every `methodflow` command that can reach a server runs in: its `--json` choice made an
`Output`, the session opened from its `--server`, `--api-key` and `--retry-for` options, and the
service's answer printed as one JSON document or as plain text. Any failure inside the frame becomes a
problem line (or document) and its exit code (`cli_connection.reported`).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer
from pydantic import BaseModel

from worker.cli_connection import reported, server_session
from worker.cli_output import EXIT_OK, Output

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from client.sync_client import MethodflowClient


@dataclass(frozen=True)
class Call:
    """One command's call: where its answer goes and the server it may ask (`server`: None for here)."""

    output: Output
    server: str | None
    api_key: str | None
    retry_for: float

    def session(self) -> AbstractContextManager[MethodflowClient]:
        """A client of the named server (no server named: exit 2 saying how to name one)."""
        return server_session(self.output, self.server, self.api_key, self.retry_for)

    def answer(
        self,
        answer: BaseModel | dict[str, Any],
        text: Callable[[], str],
        *,
        err: bool = False,
        exit_code: int = EXIT_OK,
    ) -> None:
        """Print `answer` as JSON with --json, else the text `text()` makes (on stderr with `err`); then
        exit with `exit_code`. The text is made only when it is printed."""
        document = answer.model_dump(mode="json") if isinstance(answer, BaseModel) else answer
        self.output.answer(document, lambda: typer.echo(text(), err=err), exit_code=exit_code)


@dataclass(frozen=True)
class ServerCall(Call):
    """A call to a server with its session open (`methodflow`)."""

    methodflow: MethodflowClient


@contextmanager
def command_call(server: str | None, api_key: str | None, retry_for: float, *, json: bool) -> Generator[Call]:
    """The frame of a command that works here or, when `server` is named, on the server (`call.session()`)."""
    call = Call(Output(json_mode=json), server, api_key, retry_for)
    with reported(call.output):
        yield call


@contextmanager
def server_call(
    server: str | None, api_key: str | None, retry_for: float, *, json: bool
) -> Generator[ServerCall]:
    """The frame of a command that needs a server, its session open for the whole body."""
    output = Output(json_mode=json)
    with server_session(output, server, api_key, retry_for) as methodflow:
        yield ServerCall(output, server, api_key, retry_for, methodflow)
