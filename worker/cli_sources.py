"""What `methodflow` reads from the command line before doing anything: the bundle texts named by path,
and the inputs object from `--inputs FILE` (`-`: stdin) and `--input name=value` pairs.

Shared by the in-process commands and the ones sent to a server, so both read the same things alike.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, cast

BUNDLE_GLOB = "*.mthds"
STDIN = "-"


class UnreadableInputError(Exception):
    """A path or an inputs text given on the command line cannot be read."""


def read_bundle_texts(paths: list[Path]) -> dict[str, str]:
    """Bundle texts by path: files as given, directories as their `*.mthds`, sorted, each once."""
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
    return {str(file): read_text(file) for file in dict.fromkeys(files)}


def read_text(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        msg = f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})"
        raise UnreadableInputError(msg) from exc
    except OSError as exc:
        msg = f"{file}: cannot read ({exc.strerror or exc})"
        raise UnreadableInputError(msg) from exc


def read_inputs(inputs_file: Path | None, pairs: list[str]) -> dict[str, Any]:
    """The inputs object: the JSON object of `inputs_file` (stdin when it is `-`), then each
    `name=value` pair, whose value is read as JSON when it parses, else as text."""
    inputs: dict[str, Any] = {}
    if inputs_file is not None:
        inputs.update(_inputs_object(inputs_file))
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or not name:
            msg = f"--input {pair!r}: expected name=value"
            raise UnreadableInputError(msg)
        try:
            inputs[name] = json.loads(value)
        except json.JSONDecodeError:
            inputs[name] = value
    return inputs


def _inputs_object(inputs_file: Path) -> dict[str, Any]:
    from_stdin = str(inputs_file) == STDIN
    where = "stdin" if from_stdin else str(inputs_file)
    try:
        text = sys.stdin.read() if from_stdin else inputs_file.read_text(encoding="utf-8")
        loaded = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"{where}: cannot read JSON inputs ({exc})"
        raise UnreadableInputError(msg) from exc
    if not isinstance(loaded, dict):
        msg = f"{where}: the inputs must be a JSON object of input name → value"
        raise UnreadableInputError(msg)
    return cast("dict[str, Any]", loaded)
