"""Which task queue an operator's activity goes to: worker pools and rate-limited models. Pure.

Workflow tasks always stay on the main task queue (`TEMPORAL_TASK_QUEUE`). `TASK_QUEUE_ROUTES` moves the
activities of operator kinds to pools: `llm=llm,extract=llm,func=cpu` sends PipeLLM, PipeStructure,
PipeJudge and PipeExtract calls to the queue `<main>-llm` and PipeFunc calls to `<main>-cpu`; a kind
not named stays on the main queue (pool `main`). Every call to a rate-limited model of the deck goes to
a queue of its own, `<main>-rate-<what it limits>`, whose activities-per-second the server enforces
across every worker (`model_rates.py`). The bookkeeping activities (storage, batch chunks, conditions,
bindings) stay on the main queue. docs/design/worker-pools.md tells the whole design.

The routing a run uses is decided once, by the worker that starts it, and recorded in its history with
the activity policy: changing the routes later moves new runs only.
"""

from __future__ import annotations

import re
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from shared.language.model_choice import model_needs
from shared.language.model_deck import ModelDeck, ModelFamily
from shared.language.pipe_blueprints import PipeBlueprint
from shared.runs.names import callbacks_task_queue

OPERATOR_KINDS: Final = ("llm", "extract", "imggen", "search", "func", "doc")
MAIN_POOL: Final = "main"
CALLBACKS_POOL: Final = "callbacks"
# Not a pool of its own: every queue at once, one process doing everything (the default).
ALL_POOLS: Final = "all"
_RESERVED = (ALL_POOLS, CALLBACKS_POOL)
_POOL_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")

KIND_OF_PIPE_TYPE: Final[dict[str, str]] = {
    "PipeLLM": "llm",
    "PipeStructure": "llm",
    "PipeJudge": "llm",
    "PipeExtract": "extract",
    "PipeImgGen": "imggen",
    "PipeSearch": "search",
    "PipeFunc": "func",
    "PipeDocGen": "doc",
}
KIND_OF_FAMILY: Final[dict[ModelFamily, str]] = {
    ModelFamily.LLM: "llm",
    ModelFamily.JUDGMENT: "llm",
    ModelFamily.EXTRACT: "extract",
    ModelFamily.IMG_GEN: "imggen",
    ModelFamily.SEARCH: "search",
    ModelFamily.DOC_GEN: "doc",
}
_TEXT_CONCEPT: Final = "native.Text"


class RoutesError(ValueError):
    """`TASK_QUEUE_ROUTES` is unusable; the message names the entry."""


def parse_routes(text: str) -> dict[str, str]:
    """The pool of each routed operator kind, from `kind=pool,...`; `RoutesError` when an entry is bad."""
    routes: dict[str, str] = {}
    for position, entry in enumerate(text.split(","), start=1):
        if not entry.strip():
            continue
        kind, separator, pool = (part.strip() for part in entry.partition("="))
        fault = _entry_fault(kind, pool, routes) if separator else "is not kind=pool"
        if fault is not None:
            msg = f"TASK_QUEUE_ROUTES entry {position} ('{entry.strip()}') {fault}"
            raise RoutesError(msg)
        routes[kind] = pool
    return routes


def _entry_fault(kind: str, pool: str, routes: dict[str, str]) -> str | None:
    if kind not in OPERATOR_KINDS:
        return f"names no operator kind (kinds: {', '.join(OPERATOR_KINDS)})"
    if kind in routes:
        return f"routes '{kind}' a second time"
    if not _POOL_NAME.match(pool) or pool in _RESERVED:
        reserved = " or ".join(repr(name) for name in _RESERVED)
        return f"names an unusable pool (1-40 lowercase letters, digits or '-', not {reserved})"
    return None


def pool_queue(main_queue: str, pool: str) -> str:
    """The task queue of a pool's operator activities (the main pool's is the main queue)."""
    return main_queue if pool == MAIN_POOL else f"{main_queue}-{pool}"


def rate_queue(main_queue: str, limited: str) -> str:
    """The task queue of the calls a rate limits (`limited`: `model-<handle>` or `provider-<name>`)."""
    return f"{main_queue}-rate-{limited}"


class TaskRouting(BaseModel):
    """The routing a run's operator activities follow, recorded with its activity policy.

    `deck` is carried only when some model is rate-limited: the workflow resolves a pipe's model with
    it (as the operator will) to find the model's queue.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind_queues: dict[str, str] = Field(default_factory=dict[str, str])
    rate_queues: dict[str, str] = Field(default_factory=dict[str, str])  # model handle -> queue
    deck: ModelDeck | None = None

    def queue_for(self, blueprint: PipeBlueprint, output_concept: str, output_is_list: bool) -> str | None:
        """The queue of an operator call of `blueprint`; None for the workflow's own queue."""
        if self.rate_queues and self.deck is not None:
            handle = _called_model(blueprint, self.deck, output_concept, output_is_list)
            if handle is not None and handle in self.rate_queues:
                return self.rate_queues[handle]
        kind = KIND_OF_PIPE_TYPE.get(blueprint.type)
        return self.kind_queues.get(kind) if kind is not None else None


def _called_model(blueprint: PipeBlueprint, deck: ModelDeck, concept: str, is_list: bool) -> str | None:
    """The handle of the model the operator will call (its first model need, as the operator reads it).

    A PipeLLM without a model chooses its default by its output: text for `Text` (or a fixed number of
    choices), structured otherwise. Here a refinement of Text counts as structured (the library is not
    at hand); it matters only when a deck gives the two defaults different rate-limited models.
    """
    needs = model_needs(blueprint, structured=concept != _TEXT_CONCEPT or is_list)
    if not needs:
        return None
    found = needs[0].resolve(deck)
    return found[0] if found is not None else None


def routing_for(main_queue: str, routes: dict[str, str], deck: ModelDeck) -> TaskRouting:
    """The routing of `routes` (kind -> pool) with `deck`'s rate-limited models on their own queues."""
    kind_queues = {kind: pool_queue(main_queue, pool) for kind, pool in routes.items() if pool != MAIN_POOL}
    rate_queues = {
        handle: rate_queue(main_queue, limited)
        for limited, (_rate, handles) in deck.rates().items()
        for handle in handles
    }
    return TaskRouting(kind_queues=kind_queues, rate_queues=rate_queues, deck=deck if rate_queues else None)


def required_queues(main_queue: str, routes: dict[str, str], deck: ModelDeck) -> list[str]:
    """Every task queue some worker must poll for runs to end: the main queue, each routed pool's,
    each rate-limited model's and the callbacks queue (what the `all` pool polls)."""
    pools = sorted({pool for pool in routes.values() if pool != MAIN_POOL})
    return [
        main_queue,
        *(pool_queue(main_queue, pool) for pool in pools),
        *(rate_queue(main_queue, limited) for limited in sorted(deck.rates())),
        callbacks_task_queue(main_queue),
    ]
