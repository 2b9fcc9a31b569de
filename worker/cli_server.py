"""`methodflow`'s run commands against a server: `start`, `watch`, `status`, `results`, `runs`, `cancel`,
`deliveries`, and `run` when `--server` (or `METHODFLOW_URL`) names one. Each needs a server: without
one it exits 2 saying how to name it.

Imports are made when a command runs (the client, rich): `methodflow --help` stays light.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from worker.cli_options import (
    DEFAULT_RETRY_SECONDS,
    ApiKey,
    Bundles,
    InputPairs,
    InputsFile,
    Json,
    Pipe,
    RetryFor,
    RunId,
    Server,
)

if TYPE_CHECKING:
    from client.models import RunStarted
    from client.sync_client import MethodflowClient
    from worker.cli_calls import ServerCall

# How long `watch`, `run` and `start --wait` follow a run before giving up on it (exit 1).
WATCH_SECONDS = 24 * 3600.0


def start(
    paths: Bundles,
    pipe: Pipe = None,
    inputs_file: InputsFile = None,
    input_pairs: InputPairs = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the run to its end, as watch does.")] = False,
    server: Server = None,
    api_key: ApiKey = None,
    retry_for: RetryFor = DEFAULT_RETRY_SECONDS,
    json: Json = False,
) -> None:
    """Start a run on the server and print its id (with --wait, follow it to its end)."""
    from worker.cli_calls import server_call

    with server_call(server, api_key, retry_for, json=json) as call:
        started = _start(call.methodflow, paths, pipe, inputs_file, input_pairs)
        if wait:
            follow(call, started.pipeline_run_id, print_results=False)
        else:
            call.answer(started, lambda: started.pipeline_run_id)


def run_remote(
    paths: list[Path],
    *,
    pipe: str | None,
    inputs_file: Path | None,
    input_pairs: list[str] | None,
    pretty: bool,
    server: str,
    api_key: str | None,
    retry_for: float,
    json: bool,
) -> None:
    """`methodflow run --server`: start the run, follow it, print its main output."""
    from worker.cli_calls import server_call

    with server_call(server, api_key, retry_for, json=json) as call:
        started = _start(call.methodflow, paths, pipe, inputs_file, input_pairs)
        follow(call, started.pipeline_run_id, print_results=True, pretty=pretty)


def watch(
    run_id: RunId,
    server: Server = None,
    api_key: ApiKey = None,
    retry_for: RetryFor = DEFAULT_RETRY_SECONDS,
    json: Json = False,
) -> None:
    """Follow a run to its end with live progress; exit 0 when it completed, 1 when not."""
    from worker.cli_calls import server_call

    with server_call(server, api_key, retry_for, json=json) as call:
        # The terminal ends with the result, as `run` does; a script's --json gets the final status.
        follow(call, run_id, print_results=not json, state_line=True)


def status(
    run_id: RunId,
    server: Server = None,
    api_key: ApiKey = None,
    retry_for: RetryFor = DEFAULT_RETRY_SECONDS,
    json: Json = False,
) -> None:
    """Print a run's state, pipe, times and, when it failed, its problem."""
    from worker.cli_calls import server_call
    from worker.cli_views import status_lines

    with server_call(server, api_key, retry_for, json=json) as call:
        current = call.methodflow.status(run_id)
        call.answer(current, lambda: status_lines(current))


def results(
    run_id: RunId,
    pretty: Annotated[
        bool, typer.Option("--pretty", help="Print text outputs as text, JSON indented.")
    ] = False,
    server: Server = None,
    api_key: ApiKey = None,
    retry_for: RetryFor = DEFAULT_RETRY_SECONDS,
    json: Json = False,
) -> None:
    """Print a completed run's main output; exit 1 when the run failed or has not ended."""
    from worker.cli_calls import server_call
    from worker.cli_output import EXIT_FAILED
    from worker.cli_views import main_output_text

    with server_call(server, api_key, retry_for, json=json) as call:
        answer = call.methodflow.results(run_id)
        if answer is None:
            current = call.methodflow.status(run_id)
            line = f"error: the run {run_id} is {current.state}: it has no results yet"
            call.answer(current, lambda: line, err=True, exit_code=EXIT_FAILED)
            return
        call.answer(answer, lambda: main_output_text(answer.main_stuff, pretty))


def runs(
    state: Annotated[
        list[str] | None,
        typer.Option("--state", metavar="STATE", help="Only runs in this state (e.g. RUNNING). Repeatable."),
    ] = None,
    pipe: Annotated[
        str | None, typer.Option("--pipe", metavar="PIPE", help="Only runs of this pipe.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", metavar="N", min=1, help="At most this many runs.")] = 20,
    server: Server = None,
    api_key: ApiKey = None,
    retry_for: RetryFor = DEFAULT_RETRY_SECONDS,
    json: Json = False,
) -> None:
    """List your runs, newest first: id, state, pipe, created, finished."""
    from itertools import islice

    from worker.cli_calls import server_call
    from worker.cli_views import print_runs_table

    with server_call(server, api_key, retry_for, json=json) as call:
        listed = call.methodflow.runs(state=state or None, pipe_code=pipe, page_size=min(limit, 100))
        items = list(islice(listed, limit))
        document = {"items": [item.model_dump(mode="json") for item in items]}
        call.output.answer(document, lambda: print_runs_table(items))


def cancel(
    run_id: RunId,
    reason: Annotated[
        str | None, typer.Option("--reason", metavar="TEXT", help="Why, kept with the run.")
    ] = None,
    server: Server = None,
    api_key: ApiKey = None,
    retry_for: RetryFor = DEFAULT_RETRY_SECONDS,
    json: Json = False,
) -> None:
    """Ask the server to cancel a run (a run that has ended is refused: exit 2)."""
    from worker.cli_calls import server_call

    with server_call(server, api_key, retry_for, json=json) as call:
        requested = call.methodflow.cancel(run_id, reason)
        call.answer(requested, lambda: f"cancel requested: {requested.pipeline_run_id} ({requested.state})")


def resume(
    run_id: RunId,
    method: Annotated[
        list[Path] | None,
        typer.Option(
            "--method", metavar="BUNDLE", help="A corrected bundle (repeat for several); else the run's own."
        ),
    ] = None,
    inputs_file: InputsFile = None,
    input_pairs: InputPairs = None,
    new_id: Annotated[
        str | None, typer.Option("--new-id", metavar="ID", help="The new run's id (default: a new UUID).")
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Follow the new run to its end, as watch does.")
    ] = False,
    server: Server = None,
    api_key: ApiKey = None,
    retry_for: RetryFor = DEFAULT_RETRY_SECONDS,
    json: Json = False,
) -> None:
    """Resume a failed or cancelled run as a new run that reuses every completed step; print its id."""
    from worker.cli_calls import server_call
    from worker.cli_sources import read_bundle_texts, read_inputs

    texts = list(read_bundle_texts(method).values()) if method else None
    inputs = read_inputs(inputs_file, input_pairs or []) if inputs_file or input_pairs else None
    with server_call(server, api_key, retry_for, json=json) as call:
        resumed = call.methodflow.resume(run_id, mthds_contents=texts, inputs=inputs, pipeline_run_id=new_id)
        if wait:
            follow(call, resumed.pipeline_run_id, print_results=False)
        else:
            call.answer(resumed, lambda: resumed.pipeline_run_id)


def deliveries(
    run_id: RunId,
    server: Server = None,
    api_key: ApiKey = None,
    retry_for: RetryFor = DEFAULT_RETRY_SECONDS,
    json: Json = False,
) -> None:
    """Print the run's completion callbacks: one line per URL with its state and attempts."""
    from worker.cli_calls import server_call
    from worker.cli_views import delivery_lines

    with server_call(server, api_key, retry_for, json=json) as call:
        answer = call.methodflow.deliveries(run_id)
        call.answer(answer, lambda: delivery_lines(answer))


def _start(
    methodflow: MethodflowClient,
    paths: list[Path],
    pipe: str | None,
    inputs_file: Path | None,
    input_pairs: list[str] | None,
) -> RunStarted:
    """Read the bundles and inputs, then start the run."""
    from worker.cli_sources import read_bundle_texts, read_inputs

    texts = read_bundle_texts(paths)
    inputs = read_inputs(inputs_file, input_pairs or [])
    return methodflow.start(mthds_contents=list(texts.values()), inputs=inputs, pipe_code=pipe)


def follow(
    call: ServerCall,
    run_id: str,
    *,
    print_results: bool,
    pretty: bool = False,
    state_line: bool = False,
) -> None:
    """Follow the run to its end (the live view on a terminal's stderr; with --json, silently), then
    print its results (`print_results`) or its final status; a run that did not complete exits 1.
    `state_line` also says `<run_id> COMPLETED` on stderr before the results (`watch`)."""
    from worker.cli_output import EXIT_FAILED, EXIT_INTERRUPTED
    from worker.cli_views import ended_badly_line, main_output_text, on_screen

    methodflow = call.methodflow
    if call.output.json_mode:
        final = methodflow.wait(run_id, within=WATCH_SECONDS)
    else:
        from rich.console import Console

        from worker.run_watch import watch_run

        try:
            final = watch_run(methodflow, run_id, console=Console(stderr=True), within=WATCH_SECONDS)
        except KeyboardInterrupt:
            # Ctrl-C stops the watching, not the run: say how to find it again.
            typer.echo(f"stopped watching; the run goes on: methodflow watch {run_id}", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
    if final.state != "COMPLETED":
        call.answer(final.error or final, lambda: ended_badly_line(final), err=True, exit_code=EXIT_FAILED)
        return
    if not print_results:
        call.answer(final, lambda: f"{run_id} {final.state}")
        return
    if state_line:
        typer.echo(f"{run_id} {final.state}", err=True)
    answer = methodflow.results(run_id)
    main = answer.main_stuff if answer is not None else None
    text = main_output_text(main, pretty)
    if state_line and sys.stdout.isatty():
        text = on_screen(text, run_id)
    call.answer(answer if answer is not None else final, lambda: text)
