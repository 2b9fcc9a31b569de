"""How long the result of a template operation will be, checked against the render budget before it runs.

Pure. Covers what can outgrow its inputs: `*`, `**`, `+`, `%`, `str.format`, padding, replacing, joining.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from shared.language.render_state import MAX_INT_BITS, RenderBudgetExceeded, RenderState, printed_size

_PRINTF_FIELD = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_NUMBER = re.compile(r"\d+")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _size(state: RenderState, value: Any) -> int:
    return printed_size(value, state.max_output_chars)


def materialized(value: Any) -> Any:
    """A one-shot iterable as a list, so its length can be known before it is joined."""
    if isinstance(value, str | Sequence | Mapping):
        return cast("Any", value)
    return list(cast("Iterable[Any]", value))


def check_binop(state: RenderState, operator: str, left: Any, right: Any) -> None:
    if operator == "*":
        if _is_int(left) and _is_int(right):
            _check_bits(left.bit_length() + right.bit_length())
        for sequence, count in ((left, right), (right, left)):
            if isinstance(sequence, str | list | tuple) and _is_int(count):
                state.check_size(_size(state, sequence) * max(count, 0), "a repeated value")
    elif operator == "**":
        if _is_int(left) and _is_int(right) and abs(left) > 1 and right > 0:
            _check_bits(left.bit_length() * right)
    elif operator == "+":
        if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
            state.check_size(_size(state, left) + _size(state, right), "a sum")
    elif operator == "%" and isinstance(left, str):
        check_printf(state, left, right)


def _check_bits(bits: int) -> None:
    if bits > MAX_INT_BITS:
        msg = f"an integer would take about {bits} bits, over the {MAX_INT_BITS} limit"
        raise RenderBudgetExceeded(msg)


def check_printf(state: RenderState, template: str, args: Any) -> None:
    """`template % args` (and the `format` filter of categories without the MTHDS one)."""
    widths = 0
    for match in _PRINTF_FIELD.finditer(template):
        for number in match.groups():
            if number == "*":
                star_args = cast("Sequence[Any]", args) if isinstance(args, tuple | list) else [args]
                widths += sum(abs(arg) for arg in star_args if _is_int(arg))
            elif number is not None:
                widths += int(number)
    state.check_size(len(template) + widths + _size(state, args), "a formatted string")


def check_str_format(
    state: RenderState, template: str, args: Sequence[Any], kwargs: Mapping[str, Any]
) -> None:
    """`template.format(*args, **kwargs)`; nested specs (`{:{width}}`) are refused rather than estimated."""
    widths = 0
    for _, field_name, spec, _ in string.Formatter().parse(template):
        if field_name is None or not spec:
            continue
        if "{" in spec:
            msg = "nested format specifications are not supported in templates"
            raise RenderBudgetExceeded(msg)
        widths += sum(int(number) for number in _NUMBER.findall(spec))
    state.check_size(len(template) + widths + _size(state, [args, kwargs]), "a formatted string")


def check_replace(state: RenderState, text: str, old: str, new: str, count: Any = None) -> None:
    occurrences = len(text) + 1 if old == "" else text.count(old)
    if _is_int(count) and count >= 0:
        occurrences = min(occurrences, count)
    state.check_size(len(text) + occurrences * len(new), "a replaced string")


def check_join(state: RenderState, separator: Any, items: Any) -> None:
    count = len(cast("Sequence[Any]", items)) if isinstance(items, Sequence | Mapping) else 0
    state.check_size(_size(state, items) + count * _size(state, separator), "a joined string")


def check_padding(state: RenderState, text: str, width: Any) -> None:
    if _is_int(width):
        state.check_size(max(len(text), width), "a padded string")


def check_indent(state: RenderState, text: str, width: Any) -> None:
    per_line = len(width) if isinstance(width, str) else width if _is_int(width) else 0
    state.check_size(len(text) + (text.count("\n") + 1) * per_line, "an indented string")


def check_wordwrap(state: RenderState, text: str, width: Any, wrapstring: Any) -> None:
    # Two consecutive wrapped lines always hold more than `width` characters together.
    lines = 2 * len(text) // max(width if _is_int(width) else 1, 1) + text.count("\n") + 2
    separator = len(wrapstring) if isinstance(wrapstring, str) else 1
    state.check_size(len(text) + lines * separator, "a wrapped string")


def check_count(state: RenderState, count: Any, what: str) -> None:
    """A filter argument that sets how many pieces it makes (`slice`, `batch`)."""
    if _is_int(count) and count > state.max_iterations:
        msg = f"{what} of {count} is over the {state.max_iterations} limit"
        raise RenderBudgetExceeded(msg)
