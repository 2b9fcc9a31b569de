"""Filters wrapped to respect the render budget: sizes checked before they run, results charged after.

Pure.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from shared.language import render_size_checks as checks
from shared.language.render_state import RenderState, active_state, printed_size

# Filters that print their input whole, so a huge structure must be refused before it is printed.
_PRINTING: Final = frozenset(
    {
        "center", "indent", "replace", "wordwrap", "truncate", "upper", "lower", "title", "capitalize", "trim",
        "striptags", "wordcount", "urlize", "escape", "e", "forceescape", "string", "safe", "pprint", "tojson",
        "xmlattr", "format", "tag", "with_images", "markdown", "escape_script_tag",
    }
)  # fmt: skip
# Filters whose checks read their input as text.
_AS_TEXT: Final = frozenset({"center", "indent", "replace", "wordwrap", "format"})


def _param(args: Sequence[Any], kwargs: Mapping[str, Any], index: int, name: str, default: Any = None) -> Any:
    return args[index] if len(args) > index else kwargs.get(name, default)


def _checked_builtin_input(
    state: RenderState, name: str, value: Any, args: Sequence[Any], kwargs: Mapping[str, Any]
) -> Any:
    """Check what a Jinja built-in is about to build; return the value to hand it (text or materialized)."""
    if name in _AS_TEXT and not isinstance(value, str):
        value = str(value)
    match name:
        case "center":
            checks.check_padding(state, value, _param(args, kwargs, 0, "width", 80))
        case "indent":
            checks.check_indent(state, value, _param(args, kwargs, 0, "width", 4))
        case "replace":
            old, new = str(_param(args, kwargs, 0, "old", "")), str(_param(args, kwargs, 1, "new", ""))
            checks.check_replace(state, value, old, new, _param(args, kwargs, 2, "count"))
        case "wordwrap":
            width, wrapstring = _param(args, kwargs, 0, "width", 79), _param(args, kwargs, 2, "wrapstring")
            checks.check_wordwrap(state, value, width, wrapstring)
        case "join":
            value = checks.materialized(value)
            checks.check_join(state, _param(args, kwargs, 0, "d", ""), value)
        case "format":
            checks.check_printf(state, value, [*args, kwargs])
        case "slice":
            checks.check_count(state, _param(args, kwargs, 0, "slices"), "a slice count")
        case "batch":
            checks.check_count(state, _param(args, kwargs, 0, "linecount"), "a batch size")
        case _:
            pass
    return value


def budgeted_filter(name: str, function: Callable[..., Any], *, builtin: bool) -> Callable[..., Any]:
    """`function` registered under `name`, checked against the active render budget.

    A Jinja built-in gets the specific checks of `render_size_checks` (widths, counts, separators); a filter
    that prints its input has the input's printed size checked first; every text a filter returns is charged.
    """
    # Jinja passes the context, eval context or environment first to filters marked for it.
    offset = 0 if getattr(function, "jinja_pass_arg", None) is None else 1

    @functools.wraps(function)
    def checked(*args: Any, **kwargs: Any) -> Any:
        state = active_state()
        leading, value, rest = args[:offset], args[offset], args[offset + 1 :]
        if name in _PRINTING and not isinstance(value, str):
            state.check_size(printed_size(value, state.max_output_chars), f"the input of '{name}'")
        if builtin:
            value = _checked_builtin_input(state, name, value, rest, kwargs)
        result = function(*leading, value, *rest, **kwargs)
        if isinstance(result, str):
            state.check_size(len(result), f"the result of '{name}'")
        return result

    return checked


def budgeted_iteration(iterable: Any) -> Any:
    """What a `{% for %}` loop iterates, counting each iteration against the render budget."""
    state = active_state()
    for item in iterable:
        state.iterate()
        yield item
