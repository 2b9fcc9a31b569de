"""The state of one template render: its budget (output, loop iterations, work) and the images it numbered.

Pure. The active state lives in a ContextVar, so concurrent renders (threads or tasks) never share one.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Final, cast

from jinja2 import Undefined

from shared.language.template_stuff import TemplateStuff

DEFAULT_MAX_OUTPUT_CHARS: Final = 1_000_000
DEFAULT_MAX_ITERATIONS: Final = 100_000
WORK_FACTOR: Final = 32
CALL_UNITS: Final = 64
TEMPLATE_CALL_UNITS: Final = 1024
# Wider integers make arithmetic slow out of proportion to their printed size.
MAX_INT_BITS: Final = 4096


class RenderBudgetExceeded(Exception):
    """The render went over one of its limits."""


@dataclass
class RenderState:
    """Counters of one render, and the image URLs it replaced by `[Image N]`, in order.

    Three limits: the final output (`max_output_chars`), the loop iterations in total (`max_iterations`),
    and the *work*: every text produced anywhere (printed, captured by `{% set %}`, returned by a macro,
    built by an operator or a filter) and every call, in units of about one character, up to `WORK_FACTOR`
    times the output limit. A value longer than the output limit is refused before it is built (`check_size`).
    """

    max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS
    max_iterations: int = DEFAULT_MAX_ITERATIONS
    iterations: int = 0
    work: int = 0
    image_urls: list[str] = field(default_factory=list[str])

    def iterate(self) -> None:
        self.iterations += 1
        if self.iterations > self.max_iterations:
            msg = f"the template ran more than {self.max_iterations} loop iterations"
            raise RenderBudgetExceeded(msg)

    def charge(self, units: int) -> None:
        self.work += units
        if self.work > self.max_output_chars * WORK_FACTOR:
            msg = f"the template did more work than its budget ({self.max_output_chars * WORK_FACTOR} units)"
            raise RenderBudgetExceeded(msg)

    def check_size(self, size: int, what: str) -> None:
        """Refuse a value of `size` characters before it is built, then charge it."""
        if size > self.max_output_chars:
            msg = f"{what} would be {size} characters long, over the {self.max_output_chars} limit"
            raise RenderBudgetExceeded(msg)
        self.charge(size)

    def check_output(self, length: int) -> None:
        """Refuse a final output of `length` characters."""
        if length > self.max_output_chars:
            msg = f"the output is longer than {self.max_output_chars} characters"
            raise RenderBudgetExceeded(msg)

    def image_placeholder(self, url: str) -> str:
        if url not in self.image_urls:
            self.image_urls.append(url)
        return f"[Image {self.image_urls.index(url) + 1}]"


_ACTIVE: ContextVar[RenderState | None] = ContextVar("methodflow_render_state", default=None)


def active_state() -> RenderState:
    """The state of the render in progress; outside any render (compile-time constants), a fresh one."""
    return _ACTIVE.get() or RenderState()


@contextmanager
def activated(state: RenderState) -> Generator[RenderState, None, None]:
    token = _ACTIVE.set(state)
    try:
        yield state
    finally:
        _ACTIVE.reset(token)


def printed_size(value: Any, cap: int) -> int:
    """An upper estimate of how long `value` prints, walking containers only until it passes `cap`."""
    total = 0
    pending: list[Any] = [value]
    while pending and total <= cap:
        item = pending.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, Undefined):
            continue
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2
        elif isinstance(item, TemplateStuff):
            pending.append(item.content)
        elif isinstance(item, Mapping):
            entries = cast("Mapping[Any, Any]", item)
            total += 2 + 4 * len(entries)
            if total <= cap:
                pending.extend(part for entry in entries.items() for part in entry)
        elif isinstance(item, list | tuple | set | frozenset):
            elements = cast("list[Any]", item)
            total += 2 + 2 * len(elements)
            if total <= cap:
                pending.extend(elements)
        else:
            total += 64
    return total
