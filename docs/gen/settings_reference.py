"""The configuration reference page, written from `ApiSettings` and `WorkerSettings` at docs build time.

Names, environment variables, types, defaults and constraints are read from the pydantic fields;
descriptions from `setting_notes.NOTES`, else the field's own description or source comment.
"""

from __future__ import annotations

import enum
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import annotated_types
from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

from api.settings import ApiSettings
from docs.gen.setting_notes import NOTES
from docs.gen.source_comments import field_comments
from worker.settings import WorkerSettings

PAGE = "configuration.md"


@dataclass(frozen=True)
class SettingRow:
    """One setting as the reference shows it."""

    name: str
    variables: tuple[str, ...]
    type_label: str
    default_label: str
    description: str


def settings_rows(cls: type[BaseSettings]) -> list[SettingRow]:
    """Every field of `cls`, in declaration order (inherited fields first)."""
    comments: dict[str, str] = {}
    for base in reversed(cls.__mro__):
        if issubclass(base, BaseSettings) and base is not BaseSettings:
            comments.update(field_comments(base))
    rows: list[SettingRow] = []
    for name, field in cls.model_fields.items():
        description = NOTES.get(name) or field.description or comments.get(name, "")
        rows.append(
            SettingRow(name, variables(name, field), type_label(field), default_label(field), description)
        )
    return rows


def variables(name: str, field: FieldInfo) -> tuple[str, ...]:
    """The environment variables that set the field (case-insensitive; written upper-case)."""
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return tuple(str(choice).upper() for choice in alias.choices)
    if isinstance(alias, str):
        return (alias.upper(),)
    return (name.upper(),)


def type_label(field: FieldInfo) -> str:
    label = _annotation_label(field.annotation)
    bounds = [_bound_label(item) for item in field.metadata]
    return ", ".join([label, *(bound for bound in bounds if bound)])


def default_label(field: FieldInfo) -> str:
    default: Any = field.default
    if default is PydanticUndefined:
        return "required"
    if default is None:
        return "unset"
    if isinstance(default, enum.Enum):
        return f"`{default.value}`"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, Path):
        return f"`{default}`"
    if isinstance(default, str):
        return f"`{default}`" if default else "empty"
    return f"`{default}`"


_TYPE_NAMES: dict[object, str] = {
    SecretStr: "secret",
    Path: "path",
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "text",
}


def _annotation_label(annotation: object) -> str:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [member for member in typing.get_args(annotation) if member is not type(None)]
        return " or ".join(_annotation_label(member) for member in members)
    if origin is typing.Literal:
        return " / ".join(f"`{value}`" for value in typing.get_args(annotation))
    if isinstance(annotation, enum.EnumMeta):
        return " / ".join(f"`{member.value}`" for member in cast("type[enum.Enum]", annotation))
    known = _TYPE_NAMES.get(annotation)
    if known is not None:
        return known
    name: object = getattr(annotation, "__name__", None)
    return name if isinstance(name, str) else repr(annotation)


def _bound_label(item: object) -> str:
    if isinstance(item, annotated_types.Gt):
        return f"> {item.gt}"
    if isinstance(item, annotated_types.Ge):
        return f"≥ {item.ge}"
    if isinstance(item, annotated_types.Lt):
        return f"< {item.lt}"
    if isinstance(item, annotated_types.Le):
        return f"≤ {item.le}"
    return ""


def _table(rows: list[SettingRow]) -> str:
    lines = ["| Variable | Type | Default | What it does |", "|---|---|---|---|"]
    for row in rows:
        names = " or ".join(f"`{variable}`" for variable in row.variables)
        description = row.description.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {names} | {row.type_label} | {row.default_label} | {description} |")
    return "\n".join(lines)


def settings_page() -> str:
    """The whole page, Markdown."""
    api = {row.name: row for row in settings_rows(ApiSettings)}
    worker = {row.name: row for row in settings_rows(WorkerSettings)}
    both = [
        row
        for name, row in api.items()
        if name in worker
        and worker[name].type_label == row.type_label
        and worker[name].default_label == row.default_label
    ]
    shared_names = {row.name for row in both}
    sections = [
        (
            "Read by both the API and the workers",
            "Set these to the same value on every process: the API checks and stores what the workers read.",
            both,
        ),
        ("API only", "`uvicorn api.main:create_app --factory` (`Dockerfile.api`).", [row for name, row in api.items() if name not in shared_names]),
        ("Workers only", "`methodflow worker` (`Dockerfile.worker`).", [row for name, row in worker.items() if name not in shared_names]),
    ]  # fmt: skip
    parts = [_INTRO]
    for title, lead, rows in sections:
        parts += [f"## {title}", lead, _table(rows)]
    parts.append(_TEMPORAL)
    return "\n\n".join(parts) + "\n"


_INTRO = """# Configuration reference

!!! note "Generated"
    This page is written at build time from the settings classes (`api/settings.py` `ApiSettings`,
    `worker/settings.py` `WorkerSettings`, `shared/storage/storage_settings.py`), so names, types and
    defaults are the code's. Edit the code, not this page.

Every setting is an environment variable, read once when the process starts; names are
case-insensitive and there is no `.env` file. A value the type refuses stops the process at start-up
with a message naming the variable (for example `PORT: Input should be a valid integer`)."""

_TEMPORAL = """## The Temporal connection

The connection follows the Temporal SDK's own environment configuration rather than names of ours, on
the API and on the workers alike:

| Variable | What it does |
|---|---|
| `TEMPORAL_ADDRESS` | the frontend, `host:port` (default `127.0.0.1:7233`) |
| `TEMPORAL_NAMESPACE` | the namespace (default `default`) |
| `TEMPORAL_API_KEY` | an API key (Temporal Cloud); turns TLS on |
| `TEMPORAL_TLS` | `true` for TLS without client certificates |
| `TEMPORAL_TLS_CLIENT_CERT`, `TEMPORAL_TLS_CLIENT_KEY` | mTLS: paths of the client certificate and key (the SDK's `..._PATH` names work too) |
| `TEMPORAL_TLS_CA_CERT` | path of a private CA's certificate |

`methodflow dev` adds `PORT`, `TEMPORAL_DEV_PORT` and `TEMPORAL_DEV_UI_PORT` (its command-line options),
and the command line and the Python client read `METHODFLOW_URL` and `METHODFLOW_API_KEY`."""
