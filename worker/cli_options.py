"""The arguments and options several `methodflow` commands share, declared once so that each reads the
same everywhere: the bundles, the run's inputs, and how to reach a server (`--server`, `--api-key`,
`--retry-for`) and answer a script (`--json`). Light: typer only, read when `methodflow` starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DEFAULT_RETRY_SECONDS = 20.0

Bundles = Annotated[
    list[Path],
    typer.Argument(
        metavar="BUNDLE",
        show_default=False,
        help="A bundle (.mthds) or a directory of bundles; all of them form one method.",
    ),
]
OneBundle = Annotated[Path, typer.Argument(metavar="BUNDLE", show_default=False, help="A bundle (.mthds).")]
RunId = Annotated[str, typer.Argument(metavar="RUN_ID", show_default=False, help="The run's id.")]

Pipe = Annotated[
    str | None, typer.Option("--pipe", metavar="PIPE", help="Pipe to run (default: the main_pipe).")
]
InputsFile = Annotated[
    Path | None,
    typer.Option("--inputs", metavar="FILE", help="A JSON object of inputs; - reads it from stdin."),
]
InputPairs = Annotated[
    list[str] | None,
    typer.Option(
        "--input", metavar="NAME=VALUE", help="One input; VALUE is read as JSON, else as text. Repeatable."
    ),
]

Server = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar="METHODFLOW_URL",
        show_envvar=True,
        metavar="URL",
        help="The methodflow service, e.g. http://127.0.0.1:8081.",
    ),
]
ApiKey = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="METHODFLOW_API_KEY",
        show_envvar=True,
        metavar="KEY",
        help="API key or JWT sent to the server.",
    ),
]
RetryFor = Annotated[
    float,
    typer.Option(
        "--retry-for",
        envvar="METHODFLOW_RETRY_SECONDS",
        metavar="SECONDS",
        min=0,
        help="How long to retry an unreachable or busy server before exit 3.",
    ),
]
Json = Annotated[
    bool,
    typer.Option("--json", help="Print exactly one JSON document on stdout (problems too), no decoration."),
]
