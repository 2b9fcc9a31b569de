"""The `methodflow` command line: validate, run and format bundles in this process with the same core the
service uses, or send them to a server and follow its runs; start the service's processes (`worker`,
`dev`); `callbacks listen` receives and prints callbacks.

With `--server URL` (or `METHODFLOW_URL`) `run`, `validate`, `format`, `lint` and `inputs` ask that server;
without one they work in this process, reading the worker's settings (`MODEL_DECK`, provider keys...), so
they accept and run what the service does. `start`, `watch`, `status`, `results`, `runs`, `cancel`,
`deliveries` and `build` need a server. Every one of those commands takes `--json`: exactly one JSON
document on stdout, a problem included.

Exit codes: 0 done; 1 the run failed (or was cancelled, or has not ended), the method is invalid, or the
bundle would be reformatted; 2 a usage error or a request refused (a 4xx problem, a file that cannot be
read, inputs that are not JSON, a malformed --server URL, no server where one is needed); 3 the service is
unavailable (nothing listens, or it kept answering 429/5xx until the retries ran out); 130 Ctrl-C
stopped watching a run, which goes on. In this process, `run` exits 1 for inputs its pipe refuses, as it
always has. `worker`, `dev` and `callbacks listen`: 0 stopped by a signal, 1 failed, 2 unusable setting.

Each command imports what it needs when it runs: `methodflow --help` must not pay for the provider
SDKs, Temporal, boto3 or the client (seconds of import).
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

from worker import cli_server, cli_tools
from worker.cli_help import PlainCommand
from worker.cli_options import (
    DEFAULT_RETRY_SECONDS,
    ApiKey,
    Bundles,
    InputPairs,
    InputsFile,
    Json,
    Pipe,
    RetryFor,
    Server,
)
from worker.cli_settings import model_deck, worker_settings

if TYPE_CHECKING:
    from shared.language.issues import Issue
    from shared.language.report import BundleSource

EXIT_INVALID = 1
EXIT_UNREADABLE = 2

HELP = """Methodflow: run MTHDS pipeline bundles, here or on a server.

Exit codes: 0 done; 1 run failed, method invalid or would reformat; 2 usage error or request refused;
3 service unavailable."""

app = typer.Typer(no_args_is_help=True, add_completion=True, rich_markup_mode=None, help=HELP)
callbacks_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="Completion callbacks (http-api.md §10)."
)
app.add_typer(callbacks_app, name="callbacks")
memo_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="The memo of completed steps that resumed runs reuse."
)
app.add_typer(memo_app, name="memo")


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
    """Methodflow: run MTHDS pipeline bundles, here or on a server."""
    del version  # handled by its eager callback


@app.command(cls=PlainCommand)
def validate(
    paths: Bundles,
    server: Server = None,
    api_key: ApiKey = None,
    retry_for: RetryFor = DEFAULT_RETRY_SECONDS,
    json: Json = False,
) -> None:
    """Validate bundles as one library against the model deck.

    In this process the deck is MODEL_DECK over the built-in one, as the API and the worker read it;
    with --server, the server's.
    """
    if server is not None:
        cli_tools.validate_remote(paths, server=server, api_key=api_key, retry_for=retry_for, json=json)
        return
    from shared.language.validator import validate_sources

    sources = _sources_or_exit(paths, json_mode=json)
    report = validate_sources(sources, model_deck(worker_settings()))
    if json:
        from worker.cli_output import print_json

        print_json(
            {
                "is_valid": report.is_valid,
                "errors": [issue.to_problem_item() for issue in report.issues],
                "warnings": [warning.to_problem_item() for warning in report.warnings],
            }
        )
    else:
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
    pipe: Pipe = None,
    inputs_file: InputsFile = None,
    input_pairs: InputPairs = None,
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
    server: Server = None,
    api_key: ApiKey = None,
    retry_for: RetryFor = DEFAULT_RETRY_SECONDS,
    json: Json = False,
) -> None:
    """Run a bundle and print its main output: in this process, or on --server with live progress.

    Progress goes to stderr. In this process, models are called as the worker calls them, with its
    settings: MODEL_DECK, OPENAI_API_KEY, OPENAI_BASE_URL, ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL.
    """
    if server is not None:
        local_only = [name for name, given in (("--dry-run", dry_run), ("--memory", memory),
                      ("--output-name", output_name), ("--storage", storage)) if given]  # fmt: skip
        if local_only:
            _refuse(
                "cli.option_local_only", f"{', '.join(local_only)}: only without --server", json_mode=json
            )
        cli_server.run_remote(
            paths,
            pipe=pipe,
            inputs_file=inputs_file,
            input_pairs=input_pairs,
            pretty=pretty,
            server=server,
            api_key=api_key,
            retry_for=retry_for,
            json=json,
        )
        return
    from shared.runtime.run_pipeline import RunRequest
    from worker.cli_sources import UnreadableInputError, read_inputs

    sources = _sources_or_exit(paths, json_mode=json)
    try:
        inputs = read_inputs(inputs_file, input_pairs or [])
    except UnreadableInputError as exc:
        _refuse("cli.input_unreadable", str(exc), json_mode=json)
    from worker.run_command import LocalRun, execute

    settings = worker_settings()
    request = RunRequest(pipe or "", inputs, output_name)
    storage = storage or settings.data_dir / "storage"
    local = LocalRun(sources, request, settings, model_deck(settings), dry_run, storage)
    if json:
        from worker.cli_local_run import run_as_json

        code = run_as_json(local)
    else:
        code = execute(local, pretty=pretty, memory=memory)
    if code:
        raise typer.Exit(code)


def _sources_or_exit(paths: list[Path], *, json_mode: bool) -> list[BundleSource]:
    """The bundle texts named on the command line; one that cannot be read exits 2, named."""
    from shared.language.report import BundleSource
    from worker.cli_sources import UnreadableInputError, read_bundle_texts

    try:
        texts = read_bundle_texts(paths)
    except UnreadableInputError as exc:
        _refuse("cli.input_unreadable", str(exc), json_mode=json_mode)
    return [BundleSource(path=path, text=text) for path, text in texts.items()]


def _refuse(code: str, detail: str, *, json_mode: bool) -> NoReturn:
    from worker.cli_output import CliProblem, Output

    Output(json_mode=json_mode).refuse(CliProblem(code, detail))


# The commands that talk to a server, or tool a bundle, after `validate` and `run` in the help.
for command, name in (
    (cli_server.start, "start"),
    (cli_server.watch, "watch"),
    (cli_server.status, "status"),
    (cli_server.results, "results"),
    (cli_server.runs, "runs"),
    (cli_server.cancel, "cancel"),
    (cli_server.resume, "resume"),
    (cli_server.deliveries, "deliveries"),
    (cli_tools.format_bundle, "format"),
    (cli_tools.lint, "lint"),
    (cli_tools.inputs, "inputs"),
    (cli_tools.build, "build"),
):
    app.command(name, cls=PlainCommand)(command)


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

    settings = worker_settings()
    if pool is not None:
        settings = settings.model_copy(update={"worker_pool": pool})
    deck = model_deck(settings)  # a bad MODEL_DECK stops here with its message, not a traceback
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

    data_dir = worker_settings().data_dir
    code = run_dev_stack(
        api_port=port, temporal_port=temporal_port, temporal_ui_port=temporal_ui_port, data_dir=data_dir
    )
    raise typer.Exit(code)


@memo_app.command("purge")
def memo_purge(
    retention_days: Annotated[
        float | None,
        typer.Option(metavar="DAYS", help="Remove entries older than this (default: MEMO_RETENTION_DAYS)."),
    ] = None,
) -> None:
    """Remove the memo entries past their retention, every tenant's, from the storage the worker uses
    (STORAGE / DATA_DIR). Run it daily (cron, a Kubernetes CronJob); on S3 a lifecycle rule on the
    `memo/` prefix does the same without listing."""
    from shared.storage.memo_store import purge_expired
    from worker.settings import WorkerSettings

    settings = WorkerSettings()
    days = retention_days if retention_days is not None else settings.memo_retention_days
    if days <= 0:
        typer.echo("error: --retention-days must be over 0", err=True)
        raise typer.Exit(2)
    removed = purge_expired(settings.blob_store, days)
    typer.echo(f"removed {removed} memo entries older than {days:g} days")


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
def version(json: Json = False) -> None:
    """Print the installed Methodflow version (as --version does)."""
    installed = distribution_version("methodflow")
    if json:
        from worker.cli_output import print_json

        print_json({"implementation": "methodflow", "implementation_version": installed})
    else:
        typer.echo(f"methodflow {installed}")


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


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _exit_now(code: int) -> NoReturn:
    """Exit without finalizing the interpreter. The SDK's core threads may still be winding down after a
    failed connect; finalizing under them once aborted the process (SIGABRT, "Fatal Python error", seen
    in the full suite under load) instead of exiting with the code the message promises."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
