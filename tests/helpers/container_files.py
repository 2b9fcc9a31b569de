"""Reading the container files as text: a reader of the plain YAML subset the compose file is written
in (it refuses anything else, so no YAML library is needed) and a reader of Dockerfile instructions.
"""

from __future__ import annotations

import json
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

from pydantic_settings import BaseSettings

from api.settings import ApiSettings
from worker.settings import WorkerSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.temporal.yml"
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
IMAGES: dict[str, tuple[str, type[BaseSettings]]] = {
    "api": ("Dockerfile.api", ApiSettings),
    "worker": ("Dockerfile.worker", WorkerSettings),
}
BASE_IMAGE = "python:3.11-slim"
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 -- containers listen on every interface they have

# Read by the Temporal SDK's environment configuration (shared/runs/connection.py), not by our settings.
TEMPORAL_SDK_VARIABLES = {
    "TEMPORAL_ADDRESS",
    "TEMPORAL_NAMESPACE",
    "TEMPORAL_API_KEY",
    "TEMPORAL_TLS",
    "TEMPORAL_TLS_CA_CERT",
    "TEMPORAL_TLS_CLIENT_CERT",
    "TEMPORAL_TLS_CLIENT_KEY",
    "TEMPORAL_TLS_SERVER_NAME",
}
# Read by the interpreter itself.
PROCESS_VARIABLES = {"PATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"}

# --- a reader of plain YAML: block mappings, block lists and scalars ---

Node: TypeAlias = str | list["Node"] | dict[str, "Node"] | None
_REFUSED_STARTS = ("[", "{", "&", "*", "!", "|", ">", "%", "@", "`", "? ")


class PlainYamlError(ValueError):
    """The text uses YAML this reader does not know; the compose file must stay plain."""

    def __init__(self, line: int, problem: str, text: str = "") -> None:
        super().__init__(f"line {line}: {problem}" + (f": {text!r}" if text else ""))


@dataclass(frozen=True)
class _Line:
    number: int
    indent: int
    text: str


def read_plain_yaml(text: str) -> dict[str, Node]:
    lines: list[_Line] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        content = _strip_comment(raw).rstrip()
        if content.strip():
            if "\t" in content[: len(content) - len(content.lstrip())]:
                raise PlainYamlError(number, "tab in indentation")
            lines.append(_Line(number, len(content) - len(content.lstrip(" ")), content.strip()))
    if not lines:
        return {}
    node, end = _read_mapping(lines, 0, lines[0].indent)
    if end != len(lines):
        raise PlainYamlError(lines[end].number, "unexpected indentation")
    return node


def _strip_comment(raw: str) -> str:
    quote: str | None = None
    index = 0
    while index < len(raw):
        char = raw[index]
        if quote == "'" and raw.startswith("''", index):
            index += 1  # an escaped quote inside a single-quoted scalar
        elif quote is not None:
            quote = None if char == quote else quote
        elif char in "\"'" and (index == 0 or raw[index - 1] in " -"):
            quote = char
        elif char == "#" and (index == 0 or raw[index - 1] == " "):
            return raw[:index]
        index += 1
    return raw


def _read_block(lines: list[_Line], start: int, indent: int) -> tuple[Node, int]:
    if lines[start].text == "-" or lines[start].text.startswith("- "):
        items: list[Node] = []
        index = start
        while index < len(lines) and lines[index].indent == indent and lines[index].text.startswith("- "):
            items.append(_scalar(lines[index].text[2:].strip(), lines[index]))
            index += 1
        return items, index
    return _read_mapping(lines, start, indent)


def _read_mapping(lines: list[_Line], start: int, indent: int) -> tuple[dict[str, Node], int]:
    mapping: dict[str, Node] = {}
    index = start
    while index < len(lines) and lines[index].indent == indent:
        line = lines[index]
        key, colon, rest = line.text.partition(":")
        if line.text.startswith("-") or not colon or (rest and not rest.startswith(" ")):
            raise PlainYamlError(line.number, "expected 'key: value'", line.text)
        name = _scalar(key.strip(), line)
        if name in mapping:
            raise PlainYamlError(line.number, "duplicate key", name)
        index += 1
        if rest.strip():
            mapping[name] = _scalar(rest.strip(), line)
        elif index < len(lines) and lines[index].indent > indent:
            mapping[name], index = _read_block(lines, index, lines[index].indent)
        else:
            mapping[name] = None
    if index < len(lines) and lines[index].indent > indent:
        raise PlainYamlError(lines[index].number, "unexpected indentation")
    return mapping, index


def _scalar(text: str, line: _Line) -> str:
    if "$" in text:
        raise PlainYamlError(line.number, "compose would interpolate", text)
    if text[:1] == '"':
        inner = text[1:-1]
        if len(text) < 2 or text[-1] != '"' or '"' in inner or "\\" in inner:
            raise PlainYamlError(line.number, "unsupported double-quoted scalar", text)
        return inner
    if text[:1] == "'":
        inner = text[1:-1]
        if len(text) < 2 or text[-1] != "'" or "'" in inner.replace("''", ""):
            raise PlainYamlError(line.number, "unsupported single-quoted scalar", text)
        return inner.replace("''", "'")
    if text.startswith(_REFUSED_STARTS) or ": " in text or " #" in text:
        raise PlainYamlError(line.number, "unsupported scalar", text)
    return text


# --- Dockerfiles, read as instructions grouped by stage ---


@dataclass(frozen=True)
class Instruction:
    keyword: str
    argument: str


def dockerfile_stages(name: str) -> list[list[Instruction]]:
    logical: list[str] = []
    pending = ""
    for raw in (REPO_ROOT / name).read_text(encoding="utf-8").splitlines():
        if raw.strip().startswith("#") or (not raw.strip() and not pending):
            continue
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        logical.append(pending + raw)
        pending = ""
    assert not pending, f"{name} ends inside a continued line"
    stages: list[list[Instruction]] = []
    for line in logical:
        keyword, _, argument = line.strip().partition(" ")
        if keyword.upper() == "FROM":
            stages.append([])
        assert stages, f"{name}: {keyword} before the first FROM"
        stages[-1].append(Instruction(keyword.upper(), argument.strip()))
    return stages


def arguments(stage: list[Instruction], keyword: str) -> list[str]:
    return [instruction.argument for instruction in stage if instruction.keyword == keyword]


def exec_form(argument: str) -> list[str]:
    parsed: Any = json.loads(argument)
    assert isinstance(parsed, list), f"not the JSON (exec) form: {argument}"
    words: list[str] = []
    for word in parsed:  # pyright: ignore[reportUnknownVariableType] -- checked just below
        assert isinstance(word, str), f"not a string in {argument}"
        words.append(word)
    return words


def image_env(stage: list[Instruction]) -> dict[str, str]:
    pairs = [word.partition("=") for argument in arguments(stage, "ENV") for word in shlex.split(argument)]
    assert all(sep for _, sep, _ in pairs), "ENV must use the KEY=value form"
    return {key: value for key, _, value in pairs}


def health_probe(stage: list[Instruction]) -> list[str]:
    (argument,) = arguments(stage, "HEALTHCHECK")
    options, cmd, probe = argument.partition(" CMD ")
    assert cmd, f"HEALTHCHECK without CMD: {argument}"
    assert all(option.startswith("--") for option in options.split()), argument
    return exec_form(probe)


def single_port(stage: list[Instruction]) -> str:
    (exposed,) = arguments(stage, "EXPOSE")
    assert exposed.isdigit(), exposed
    return exposed


# --- what the compose file declares ---


def compose() -> dict[str, Node]:
    return read_plain_yaml(COMPOSE_FILE.read_text(encoding="utf-8"))


def mapping_at(node: Node, *path: str) -> dict[str, Node]:
    for key in path:
        assert isinstance(node, dict), f"{'.'.join(path)}: not a mapping"
        node = node.get(key)
    assert isinstance(node, dict), f"{'.'.join(path)}: not a mapping"
    return node


def strings_at(node: Node, *path: str) -> list[str]:
    parent = mapping_at(node, *path[:-1])
    value = parent.get(path[-1])
    assert isinstance(value, list), f"{'.'.join(path)}: not a list"
    assert all(isinstance(item, str) for item in value), f"{'.'.join(path)}: not scalars"
    return [item for item in value if isinstance(item, str)]


def service_env(service: str) -> dict[str, str]:
    environment = mapping_at(compose(), "services", service, "environment")
    assert all(isinstance(value, str) for value in environment.values()), "environment values are scalars"
    return {key: value for key, value in environment.items() if isinstance(value, str)}


def flag_values(command: list[str], flag: str) -> list[str]:
    return [command[index + 1] for index, word in enumerate(command[:-1]) if word == flag]


def container_port(published: str) -> str:
    return published.rsplit(":", 1)[1]
