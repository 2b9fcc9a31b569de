"""How a `methodflow` command reaches a server: the `--server` URL checked before any request, the
client made from it, and every failure on the way turned into one problem line (or document) and its
exit code, never a traceback.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import contextmanager
from urllib.parse import urlsplit

import httpx
import pydantic

from client.errors import MethodflowError
from client.sync_client import MethodflowClient
from worker.cli_output import EXIT_UNAVAILABLE, CliProblem, Output
from worker.cli_sources import UnreadableInputError

URL_SCHEMES = ("http", "https")
NO_SERVER = "no server: pass --server URL or set METHODFLOW_URL"


def server_url(text: str) -> str:
    """`text` when it is an http(s) URL with a host (and a numeric port, if any); else a `CliProblem`."""
    problem = CliProblem(
        "cli.server_url_invalid",
        f"--server {text!r} is not an http(s) URL with a host, such as http://127.0.0.1:8081",
        title="The server URL is malformed",
    )
    if not text or any(character.isspace() for character in text):
        raise problem
    try:
        parts = urlsplit(text)
        port = parts.port  # reading it checks it: `http://host:port-ish` raises
    except ValueError as exc:
        raise problem from exc
    if parts.scheme.lower() not in URL_SCHEMES or not parts.hostname or port == 0:
        raise problem
    return text.rstrip("/")


def required_server(server: str | None) -> str:
    """The checked URL of the server a command cannot do without."""
    if server is None:
        code = "cli.no_server"
        raise CliProblem(code, NO_SERVER, title="No server was named")
    return server_url(server)


@contextmanager
def server_session(
    output: Output, server: str | None, api_key: str | None, retry_for: float
) -> Generator[MethodflowClient]:
    """A client of the named server, whose calls retry an unreachable or busy service for `retry_for`
    seconds; whatever fails in the `with` body is `reported`."""
    with reported(output), MethodflowClient(required_server(server), api_key, deadline=retry_for) as client:
        yield client


@contextmanager
def reported(output: Output) -> Generator[None]:
    """Run a command's body; any failure becomes its problem line or document and its exit code."""
    try:
        yield
    except UnreadableInputError as exc:
        output.refuse(CliProblem("cli.input_unreadable", str(exc), title="An input cannot be read"))
    except CliProblem as problem:
        output.refuse(problem)
    except MethodflowError as error:
        output.fail(error)
    except (httpx.HTTPError, pydantic.ValidationError) as exc:
        # An answer the client could not read (a proxy's page, a cut stream): the service is not usable.
        detail = f"the server's answer could not be read: {type(exc).__name__}: {exc}"
        output.refuse(CliProblem("cli.answer_unreadable", detail, exit_code=EXIT_UNAVAILABLE))
