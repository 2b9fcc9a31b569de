"""Name grammars of MTHDS (mthds.md §1.3): what a pipe code, input name, path or concept code may be. Pure."""

from __future__ import annotations

import keyword
import re

PIPE_CODE = re.compile(r"^[a-z][a-z0-9_]*$")
INPUT_NAME = PIPE_CODE
CONCEPT_CODE = re.compile(r"^[A-Z][a-zA-Z0-9]*$")
DOMAIN_SEGMENT = re.compile(r"^[a-z][a-z0-9_]*$")
BINDING_PATH = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")

BOUND_PREFIX = "_bound_"
RESERVED_DOMAINS = frozenset({"native", "mthds", "pipelex"})

# Readable underscore names in templates (mthds.md §3.3).
TEMPLATE_METADATA_NAMES = frozenset({"_stuff_name", "_content_class", "_concept_code", "_stuff_code"})

_RESERVED_FIELD_NAMES = frozenset(
    {
        "model_config",
        "model_fields",
        "model_computed_fields",
        "model_extra",
        "model_fields_set",
        "model_construct",
        "model_copy",
        "model_dump",
        "model_dump_json",
        "model_json_schema",
        "model_parametrized_name",
        "model_post_init",
        "model_rebuild",
        "model_validate",
        "model_validate_json",
        "model_validate_strings",
    }
)


def is_pipe_code(name: str) -> bool:
    return PIPE_CODE.match(name) is not None


def is_input_name(name: str) -> bool:
    """An input name or a stored name: plain snake_case, never dotted, never `_bound_`-prefixed."""
    return INPUT_NAME.match(name) is not None


def is_concept_code(name: str) -> bool:
    return CONCEPT_CODE.match(name) is not None


def is_binding_path(path: str) -> bool:
    return BINDING_PATH.match(path) is not None


def domain_fault(domain: str) -> str | None:
    """Why `domain` is not a valid domain code, or None when it is."""
    segments = domain.split(".")
    if not all(DOMAIN_SEGMENT.match(segment) for segment in segments):
        return "each dot-separated segment must be snake_case (^[a-z][a-z0-9_]*$)"
    if segments[0] in RESERVED_DOMAINS:
        return f"the domain may not start with the reserved segment '{segments[0]}'"
    return None


def field_name_fault(name: str) -> str | None:
    """Why `name` cannot name a structure field, or None when it can."""
    if not name.isidentifier() or keyword.iskeyword(name):
        return "a field name must be a Python identifier that is not a keyword"
    if name.startswith("_"):
        return "a field name may not start with an underscore"
    if name in _RESERVED_FIELD_NAMES:
        return f"'{name}' is reserved"
    return None
