"""The `methodflow` command line: validate and run bundles locally with the same core the service uses,
and start the service's processes (`worker`, `dev`); `callbacks listen` receives and prints callbacks.

Exit codes of `validate` and `run`: 0 valid / completed, 1 invalid / failed, 2 unreadable input or
unusable setting. `worker`, `dev` and `callbacks listen`: 0 stopped by a signal, 1 failed, 2 unusable
setting. `validate` and `run` read the worker's settings (`MODEL_DECK`, provider keys...), so they
accept and run what the service does.

Each command imports what it needs when it runs: `methodflow --help` must not pay for the provider
SDKs, Temporal or boto3 (seconds of import).
"""

from __future__ import annotations

import os
import signal
import sys
from importlib.metadata import version as distribution_version
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from worker.cli_help import PlainCommand

if TYPE_CHECKING:
    from shared.language.issues import Issue
    from shared.language.model_deck import ModelDeck
    from shared.language.report import BundleSource
    from worker.settings import WorkerSettings

BUNDLE_GLOB = "*.mthds"
EXIT_INVALID = 1
EXIT_UNREADABLE = 2

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    help="Methodflow: run MTHDS pipeline bundles.",
)
callbacks_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="Completion callbacks (http-api.md §10)."
)
app.add_typer(callbacks_app, name="callbacks")

Bundles = Annotated[
    list[Path],
    typer.Argument(
        metavar="BUNDLE",
        show_default=False,
        help="A bundle (.mthds) or a directory of bundles; all of them form one method.",
    ),
]


class UnreadableInputError(Exception):
    """A path given on the command line cannot be read as bundle text."""


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"methodflow {distribution_version('methodflow')}")
        raise typer.Exit


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the installed version and exit."
        ),
    ] = False,
) -> None:
    """Methodflow: run MTHDS pipeline bundles."""
    del version  # handled by its eager callback


@app.command(cls=PlainCommand)
def validate(paths: Bundles) -> None:
    """Validate bundles as one library against the model deck.

    The deck is MODEL_DECK over the built-in one, as the API and the worker read it.
    """
    from shared.language.validator import validate_sources

    try:
        sources = read_sources(paths)
    except UnreadableInputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from exc
    report = validate_sources(sources, _model_deck(_worker_settings()))
    if report.is_valid:
        pipes = len(report.validated_pipes)
        typer.echo(f"valid: {_count(len(sources), 'bundle')}, {_count(pipes, 'pipe')}")
    else:
        typer.echo(f"invalid: {_count(len(report.issues), 'error')}")
    for issue in report.issues:
        typer.echo(format_issue(issue))
    for warning in report.warnings:
        typer.echo(f"warning: {format_issue(warning)}")
    if not report.is_valid:
        raise typer.Exit(EXIT_INVALID)


@app.command(cls=PlainCommand)
def run(
    paths: Bundles,
    pipe: Annotated[
        str | None, typer.Option("--pipe", metavar="PIPE", help="Pipe to run (default: the main_pipe).")
    ] = None,
    inputs_file: Annotated[
        Path | None, typer.Option("--inputs", metavar="FILE", help="A JSON object of inputs.")
    ] = None,
    input_pairs: Annotated[
        list[str] | None,
        typer.Option(
            "--input",
            metavar="NAME=VALUE",
            help="One input; VALUE is read as JSON, else as text. Repeatable.",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Mock every model, and every input not given; run the control flow."),
    ] = False,
    pretty: Annotated[
        bool, typer.Option("--pretty", help="Print text outputs as text, JSON indented.")
    ] = False,
    memory: Annotated[bool, typer.Option("--memory", help="Print the whole pipe output and memory.")] = False,
    output_name: Annotated[
        str | None, typer.Option(metavar="NAME", help="Name of the main output in memory.")
    ] = None,
    storage: Annotated[
        Path | None,
        typer.Option(metavar="DIR", help="Directory of generated documents (default: $DATA_DIR/storage)."),
    ] = None,
) -> None:
    """Run a bundle in this process and print its main output.

    Progress goes to stderr. Models are called as the worker calls them, with its settings:
    MODEL_DECK, OPENAI_API_KEY, OPENAI_BASE_URL, ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL.
    """
    from shared.runtime.run_pipeline import RunRequest
    from worker.run_command import InputsUnreadableError, execute, read_inputs

    try:
        sources = read_sources(paths)
        inputs = read_inputs(inputs_file, input_pairs or [])
    except (UnreadableInputError, InputsUnreadableError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from exc
    settings = _worker_settings()
    deck = _model_deck(settings)
    request = RunRequest(pipe or "", inputs, output_name)
    code = execute(
        sources,
        request,
        settings=settings,
        deck=deck,
        dry_run=dry_run,
        storage=storage or settings.data_dir / "storage",
        pretty=pretty,
        memory=memory,
    )
    if code:
        raise typer.Exit(code)


@app.command("worker")
def worker_command(
    address: Annotated[
        str | None,
        typer.Option(metavar="HOST:PORT", help="Temporal frontend host:port (default: TEMPORAL_ADDRESS)."),
    ] = None,
    pool: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="Poll only this pool's task queues: main, callbacks, or a pool of TASK_QUEUE_ROUTES "
            "(default: WORKER_POOL, else all).",
        ),
    ] = None,
) -> None:
    """Run a worker until SIGTERM or Ctrl-C.

    In-flight activities finish before it stops.
    """
    import asyncio

    from shared.observability.json_logs import configure_logging
    from shared.runs.connection import DEFAULT_ADDRESS
    from worker.pools import UnknownPoolError, polled_queues
    from worker.runner import run_worker
    from worker.settings import WorkerSettingsError
    from worker.versioning import deployment_version

    settings = _worker_settings()
    if pool is not None:
        settings = settings.model_copy(update={"worker_pool": pool})
    deck = _model_deck(settings)  # a bad MODEL_DECK stops here with its message, not a traceback
    try:
        polled_queues(settings.temporal_task_queue, settings.routes, deck, settings.worker_pool)
        deployment_version(settings)
    except (UnknownPoolError, WorkerSettingsError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from exc
    configure_logging(settings.log_level, settings.log_format)  # LOG_FORMAT=json: one JSON object a line
    try:
        asyncio.run(run_worker(settings, address=address))
    except RuntimeError as exc:  # the SDK's connection and worker failures are plain RuntimeErrors
        target = address or os.environ.get("TEMPORAL_ADDRESS") or DEFAULT_ADDRESS
        typer.echo(f"error: the worker stopped (Temporal at {target}): {exc}", err=True)
        _exit_now(1)


@app.command()
def dev(
    port: Annotated[
        int, typer.Option(envvar="PORT", metavar="PORT", help="Port of the API on 127.0.0.1.")
    ] = 8081,
    temporal_port: Annotated[
        int,
        typer.Option(
            envvar="TEMPORAL_DEV_PORT", metavar="PORT", help="Port of the embedded Temporal dev server."
        ),
    ] = 7233,
    temporal_ui_port: Annotated[
        int | None,
        typer.Option(
            envvar="TEMPORAL_DEV_UI_PORT",
            metavar="PORT",
            help="Port of the Temporal UI (default: the Temporal port + 1000).",
        ),
    ] = None,
) -> None:
    """Run the whole service locally: Temporal, a worker and the API.

    Temporal runs embedded unless TEMPORAL_ADDRESS is set.
    """
    from worker.dev_stack import run_dev_stack

    data_dir = _worker_settings().data_dir
    code = run_dev_stack(
        api_port=port, temporal_port=temporal_port, temporal_ui_port=temporal_ui_port, data_dir=data_dir
    )
    raise typer.Exit(code)


@callbacks_app.command("listen")
def callbacks_listen(
    port: Annotated[
        int, typer.Option(metavar="PORT", help="Port to listen on (0: any free port, printed).")
    ] = 8090,
    host: Annotated[str, typer.Option(metavar="ADDRESS", help="Address to listen on.")] = "127.0.0.1",
    secret: Annotated[
        str | None,
        typer.Option(
            envvar="COMPLETION_CALLBACK_SECRET",
            show_envvar=True,
            metavar="SECRET",
            help="Secret(s) to verify with, comma-separated (default: COMPLETION_CALLBACK_SECRET).",
        ),
    ] = None,
    tolerance: Annotated[
        int, typer.Option(metavar="SECONDS", help="Accepted clock skew of webhook-timestamp, seconds.")
    ] = 300,
) -> None:
    """Receive callbacks and print one line per event.

    Each signature is verified; Ctrl-C stops.
    """
    from shared.callbacks.signing import signing_keys
    from worker.callback_listener import serve

    try:
        keys = signing_keys(secret or "")
    except ValueError as exc:
        typer.echo(f"error: unusable secret: {exc}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from exc
    if not keys:
        typer.echo("error: no secret: pass --secret or set COMPLETION_CALLBACK_SECRET", err=True)
        raise typer.Exit(EXIT_UNREADABLE)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        serve(host, port, secret or "", _write_line, tolerance=tolerance)
    except OSError as exc:
        typer.echo(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from exc
    except KeyboardInterrupt:
        return


def _write_line(line: str) -> None:
    """One event line on stdout, flushed at once so a pipe or a log file sees it as it happens."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    """SIGTERM stops the listener as Ctrl-C does."""
    raise KeyboardInterrupt


@app.command()
def version() -> None:
    """Print the installed Methodflow version (as --version does)."""
    typer.echo(f"methodflow {distribution_version('methodflow')}")


def read_sources(paths: list[Path]) -> list[BundleSource]:
    """Bundle texts named on the command line: files as given, directories as their `*.mthds`, sorted."""
    from shared.language.report import BundleSource

    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(candidate for candidate in path.rglob(BUNDLE_GLOB) if candidate.is_file())
            if not found:
                msg = f"{path}: no {BUNDLE_GLOB} file in this directory"
                raise UnreadableInputError(msg)
            files.extend(found)
        else:
            files.append(path)
    unique = list(dict.fromkeys(files))
    return [BundleSource(path=str(file), text=_read_text(file)) for file in unique]


def _read_text(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        msg = f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})"
        raise UnreadableInputError(msg) from exc
    except OSError as exc:
        msg = f"{file}: cannot read ({exc.strerror or exc})"
        raise UnreadableInputError(msg) from exc


def format_issue(issue: Issue) -> str:
    """`<file>:<line>: [<pipe>] <code> (<error_type>): <message>`, leaving out what is unknown."""
    parts: list[str] = []
    if issue.file is not None:
        parts.append(f"{issue.file}:" if issue.line is None else f"{issue.file}:{issue.line}:")
    elif issue.line is not None:
        parts.append(f"line {issue.line}:")
    if issue.pipe is not None:
        parts.append(f"[{issue.pipe}]")
    kind = issue.problem_code + (f" ({issue.error_type})" if issue.error_type is not None else "")
    parts.append(f"{kind}: {issue.message}")
    return " ".join(parts)


def _worker_settings() -> WorkerSettings:
    from worker.settings import WorkerSettingsError, get_worker_settings

    try:
        return get_worker_settings()
    except WorkerSettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from exc


def _model_deck(settings: WorkerSettings) -> ModelDeck:
    """The worker's deck (`MODEL_DECK` over the built-in one); an unusable deck exits 2, named."""
    from worker.settings import WorkerSettingsError

    try:
        return settings.load_model_deck()
    except WorkerSettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from exc


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _exit_now(code: int) -> NoReturn:
    """Exit without finalizing the interpreter. The SDK's core threads may still be winding down after a
    failed connect; finalizing under them once aborted the process (SIGABRT, "Fatal Python error", seen
    in the full suite under load) instead of exiting with the code the message promises."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
