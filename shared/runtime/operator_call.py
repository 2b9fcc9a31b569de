"""The boundary between the walk and side effects: one operator call and the executor that answers it. Pure.

The interpreter never performs I/O. Every operator except the pure PipeCompose is handed to an
`OperatorExecutor`: in-process for local runs, mocks for dry runs, a Temporal activity in the worker.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from shared.language.library import PipeEntry
from shared.runtime.binding_values import Bound
from shared.runtime.stuff import Stuff
from shared.runtime.usage import UsageRecord


@dataclass(frozen=True, slots=True)
class OutputTarget:
    """What an operator call must produce: the concrete concept, and a list (of `count` items) or not."""

    concept: str
    is_list: bool = False
    count: int | None = None

    def describe(self) -> str:
        suffix = (f"[{self.count}]" if self.count else "[]") if self.is_list else ""
        return f"{self.concept}{suffix}"


@dataclass(frozen=True, slots=True)
class OperatorCall:
    """One operator to run: its pipe, its present inputs by declared name, what it must produce.

    `seed` makes any generated value (mock data, ids) reproducible; `nb_output` is the count exposed to
    templates as `_nb_output` when a caller forced the multiplicity.
    """

    pipe: PipeEntry
    inputs: Mapping[str, Stuff]
    output: OutputTarget
    seed: str
    nb_output: int | None = None


@dataclass(frozen=True, slots=True)
class Produced:
    """An operator's answer: a single content, or the item contents of a list, and the usage records of
    the model calls that produced it."""

    content: Any
    concept: str | None = None  # None: the call's output concept
    usages: tuple[UsageRecord, ...] = ()
    # The run whose memo entry answered the call (nothing ran); None when it ran.
    reused_from: str | None = None

    @staticmethod
    def of_items(items: list[Any], concept: str | None = None) -> Produced:
        return Produced({"items": items}, concept)


class OperatorExecutor(Protocol):
    """Runs the operators the interpreter cannot run itself; failures raise `PipeRunError`."""

    async def run_operator(self, call: OperatorCall) -> Produced: ...


@runtime_checkable
class StoredReader(Protocol):
    """An executor that reads stored contents (`content_refs.py`) for the pure steps that must read them."""

    async def render_condition(self, pipe: PipeEntry, inputs: Mapping[str, Stuff]) -> str: ...

    async def bind_stored(
        self, pipe: PipeEntry, held: Stuff, root: str, segments: list[str], concept: str | None, to_list: bool
    ) -> Bound:
        """A binding step of `pipe` walking into `held`, a stored content (`binding_values.bind_content`)."""
        ...
