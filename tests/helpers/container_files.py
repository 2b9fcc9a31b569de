"""Reading the container files: the compose file with PyYAML (its `${VAR}` interpolations left as
written) and the Dockerfiles as instructions grouped by stage.
"""

from __future__ import annotations

import json
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml
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


def compose() -> dict[str, Any]:
    document: Any = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(document, dict), f"{COMPOSE_FILE.name}: not a mapping"
    return cast(dict[str, Any], document)


def mapping_at(node: Any, *path: str) -> dict[str, Any]:
    for key in path:
        assert isinstance(node, dict), f"{'.'.join(path)}: not a mapping"
        node = cast(dict[str, Any], node).get(key)
    assert isinstance(node, dict), f"{'.'.join(path)}: not a mapping"
    return cast(dict[str, Any], node)


def strings_at(node: Any, *path: str) -> list[str]:
    value = mapping_at(node, *path[:-1]).get(path[-1])
    assert isinstance(value, list), f"{'.'.join(path)}: not a list"
    items = cast(list[Any], value)
    assert all(isinstance(item, str) for item in items), f"{'.'.join(path)}: not strings"
    return [str(item) for item in items]


def service_env(service: str) -> dict[str, str]:
    """The service's `environment:` as written (compose's `${VAR}` interpolations not resolved)."""
    environment = mapping_at(compose(), "services", service, "environment")
    assert all(isinstance(value, str) for value in environment.values()), "environment values are strings"
    return {key: str(value) for key, value in environment.items()}


def flag_values(command: list[str], flag: str) -> list[str]:
    return [command[index + 1] for index, word in enumerate(command[:-1]) if word == flag]


def container_port(published: str) -> str:
    return published.rsplit(":", 1)[1]
