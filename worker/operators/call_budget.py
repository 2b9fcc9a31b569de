"""A budgeted run's model calls, reserved before and settled after (issue 19, budgets).

The operator activity activates a `CallBudget` for the invocation when its run has a budget
(`OperatorTask.budget`); `model_calls.chat` then reserves each call's worst case with the run's ledger
workflow (`worker/budget_workflow.py`) before it calls the provider, and settles the actual cost after.
A refused reservation is never called: the pipe fails `run.budget_exceeded`. Runs without a budget
activate nothing and make no round trip.

The worst case, so that a call can never cost more than it reserved:
- prompt tokens: every UTF-8 byte of every message text (system, user, the JSON Schema of a structured
  answer) counts as one token, since a byte-level BPE token always covers at least one byte, plus
  `MESSAGE_OVERHEAD_TOKENS` per message and `CALL_OVERHEAD_TOKENS` per call for the chat template's
  role and separator tokens, plus `IMAGE_TOKENS` per image (OpenAI's high-detail maximum is 1,445
  tokens for an image scaled to 768x2048; Anthropic's about 1,600 for its largest unscaled image);
- output tokens: the call's `max_tokens` (the pipe's setting, else `default_max_output_tokens`, which is
  then sent to the provider so the call cannot pass it) times the number of choices asked;
- an image generation reserves `IMAGE_OUTPUT_TOKENS` and the deck's `image_cost` per image; a search
  call is capped and reserved as a chat call is (what a provider bills for the pages it read, as
  search fees or context tokens, is not in the deck's prices and cannot be bounded here);
- priced with the deck model's `costs` (`shared/runtime/usage.py`); a model without prices costs 0
  against `max_cost_usd` (its records carry no cost either) and still counts against `max_tokens`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import random
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Final, Protocol, TypeVar

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from shared.runs.budget_io import (
    RESERVE_UPDATE,
    SETTLE_UPDATE,
    BudgetAnswer,
    BudgetAsk,
    BudgetSettle,
    CallEstimate,
)
from shared.runtime.run_failure import FailureCode, PipeRunError
from shared.runtime.usage import IMAGES, INPUT, OUTPUT, call_cost
from worker.providers.chat import ChatRequest, ProviderError

logger = logging.getLogger(__name__)

MESSAGE_OVERHEAD_TOKENS: Final = 8
CALL_OVERHEAD_TOKENS: Final = 8
IMAGE_TOKENS: Final = 1600
# The most output tokens one generated image counts for (gpt-image-1, high quality, 1536x1024: 6,240).
IMAGE_OUTPUT_TOKENS: Final = 6240
# Asking the ledger again after a failed RPC (a ledger busy or continuing as new, a blip of the server).
_LEDGER_ATTEMPTS: Final = 30
_LEDGER_BACKOFF_SECONDS: Final = 0.05
# Asking again a reservation that waits for calls in flight to settle: first pause, longest pause.
_WAIT_FIRST_SECONDS: Final = 0.2
_WAIT_MAX_SECONDS: Final = 2.0

_T = TypeVar("_T")
_ACTIVE: ContextVar[tuple[tuple[Gate, ...], int]] = ContextVar("call_budget", default=((), 0))


def prompt_token_bound(request: ChatRequest) -> int:
    """At most how many prompt tokens `request` counts for (see the module's docstring)."""
    texts = [request.system or "", request.user]
    if request.json_schema is not None:
        texts.append(json.dumps(request.json_schema, ensure_ascii=False))
    messages = sum(1 for text in texts if text) + len(request.images)
    text_bytes = sum(len(text.encode("utf-8")) for text in texts)
    return (
        text_bytes
        + MESSAGE_OVERHEAD_TOKENS * messages
        + CALL_OVERHEAD_TOKENS
        + IMAGE_TOKENS * len(request.images)
    )


def call_estimate(
    request: ChatRequest, costs: Mapping[str, float] | None, image_cost: float | None
) -> CallEstimate:
    """`request`'s worst case, priced at the deck model's `costs`; `request.max_tokens` must be set."""
    input_tokens = prompt_token_bound(request)
    output_tokens = (request.max_tokens or 0) * max(1, request.n)
    cost = call_cost(costs, {INPUT: input_tokens, OUTPUT: output_tokens}, image_cost)
    return CallEstimate(input_tokens=input_tokens, output_tokens=output_tokens, cost_usd=cost or 0.0)


@dataclasses.dataclass
class CallBudget:
    """One invocation attempt's calls against its run's ledger workflow `ledger_id`."""

    client: Client
    ledger_id: str
    pipe: str
    # Unique per activity attempt (workflow id, activity id, attempt): reservation ids extend it.
    attempt_key: str
    expires_in_seconds: float
    calls: int = 0

    @property
    def bounds_cost(self) -> bool:
        return True

    async def reserve(self, estimate: CallEstimate) -> str:
        """The id of a granted reservation of `estimate`; `run.budget_exceeded` when the ledger refuses.
        While it fits only once calls in flight settle, it asks again, backing off (the activity goes
        on heartbeating meanwhile)."""
        self.calls += 1
        reservation_id = f"{self.attempt_key}/{self.calls}"
        ask = BudgetAsk(
            reservation_id=reservation_id,
            pipe=self.pipe,
            estimate=estimate,
            expires_in_seconds=self.expires_in_seconds,
        )
        handle = self.client.get_workflow_handle(self.ledger_id)
        pause = _WAIT_FIRST_SECONDS
        while True:
            answer: BudgetAnswer = await ledger_update(
                lambda: handle.execute_update(  # pyright: ignore[reportUnknownMemberType, reportUnknownLambdaType] -- the SDK's overloads are partly untyped
                    RESERVE_UPDATE, ask, result_type=BudgetAnswer
                ),
                self.pipe,
            )
            if not answer.wait:
                break
            pause = await paused(pause)
        if not answer.granted:
            raise budget_exceeded(answer, self.pipe, estimate)
        return reservation_id

    async def settle(self, reservation_id: str, settled: BudgetSettle) -> None:
        """Count the call's actual cost. A ledger gone (its run ended while this call was in flight) is
        only logged: the call's answer is still the run's, and the run no longer spends."""
        handle = self.client.get_workflow_handle(self.ledger_id)
        argument = settled.model_copy(update={"reservation_id": reservation_id})
        try:
            await ledger_update(
                lambda: handle.execute_update(SETTLE_UPDATE, argument),  # pyright: ignore[reportUnknownMemberType, reportUnknownLambdaType] -- as above
                self.pipe,
            )
        except PipeRunError as failure:
            logger.warning("budget %s: settle %s not recorded: %s", self.ledger_id, reservation_id, failure)


class Gate(Protocol):
    """A ledger a model call reserves its worst case with: the run's budget, the tenant's limits."""

    @property
    def bounds_cost(self) -> bool:
        """Whether the gate limits what calls may cost (then a call's output must be capped)."""
        ...

    async def reserve(self, estimate: CallEstimate) -> str: ...

    async def settle(self, reservation_id: str, settled: BudgetSettle) -> None: ...


async def ledger_update(send: Callable[[], Awaitable[_T]], pipe: str) -> _T:
    """`send()`'s answer; a busy or unreachable ledger is asked again a while (Temporal refuses updates
    past its in-flight limit per workflow), then the attempt fails retryable (`runtime.unavailable`)."""
    pause = _LEDGER_BACKOFF_SECONDS
    attempt = 0
    while True:
        attempt += 1
        try:
            return await send()
        except (RPCError, WorkflowUpdateFailedError) as exc:
            # The ledger has ended (its run did): asking again cannot help.
            ended = isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND
            if ended or attempt == _LEDGER_ATTEMPTS:
                failure = PipeRunError(
                    FailureCode.RUNTIME_UNAVAILABLE,
                    f"a budget ledger cannot be reached: {exc}",
                    pipe=pipe,
                    retryable=True,
                )
                raise failure from exc
            pause = await paused(pause)


async def paused(pause: float) -> float:
    """Wait about `pause` seconds (jittered, so waiting callers spread out); the next, longer pause."""
    await asyncio.sleep(pause * random.uniform(0.5, 1.5))  # noqa: S311 -- jitter, not a secret
    return min(_WAIT_MAX_SECONDS, pause * 1.5)


def budget_exceeded(answer: BudgetAnswer | None, pipe: str, estimate: CallEstimate) -> PipeRunError:
    """The failure of a call the run's budget cannot cover: not retryable, the run stops."""
    limit_kind = answer.limit_kind if answer is not None else None
    unit = "USD" if limit_kind == "cost_usd" else "tokens"
    limit = answer.limit if answer is not None else None
    spent = answer.spent if answer is not None else None
    reserved = answer.reserved if answer is not None else None
    message = (
        f"a model call of '{pipe}' may cost up to {estimate.cost_usd:g} USD and "
        f"{estimate.tokens} tokens, which the run's budget of {limit:g} {unit} cannot cover "
        f"({spent:g} spent, {reserved:g} held by calls in flight)"
        if limit is not None and spent is not None and reserved is not None
        else f"a model call of '{pipe}' would exceed the run's budget"
    )
    return PipeRunError(
        FailureCode.BUDGET_EXCEEDED,
        message,
        pipe=pipe,
        params={
            "limit_kind": limit_kind,
            "limit": limit,
            "spent": spent,
            "reserved": reserved,
            "estimate": estimate.model_dump(mode="json"),
        },
    )


async def within_budget(
    estimate: Callable[[], CallEstimate],
    call: Callable[[], Awaitable[_T]],
    actual: Callable[[_T], BudgetSettle],
) -> _T:
    """`call()`'s result; with gates active (a run budget, tenant limits), its `estimate()` reserved
    with each first (refused: the call is not made) and its `actual` cost settled after. A call that
    fails (the provider refused or failed it) settles nothing billed.

    A call already sent finishes even when its activity is cancelled (the run is stopping: its budget
    refused another call, a sibling failed, the caller cancelled): the provider bills it anyway, so its
    answer's cost is settled rather than its reservation left held; then the cancel goes on."""
    gates = active()
    if not gates:
        return await call()
    worst = estimate()
    granted: list[tuple[Gate, str]] = []
    try:
        for gate in gates:
            granted.append((gate, await gate.reserve(worst)))
    except (PipeRunError, asyncio.CancelledError):
        await _settle_all(granted, BudgetSettle(reservation_id=""))  # no call was made
        raise
    calling = asyncio.ensure_future(call())
    try:
        result = await asyncio.shield(calling)
    except asyncio.CancelledError:
        await asyncio.wait({calling})
        failed = calling.exception()  # read, so that it is never reported unretrieved
        await _settle_all(
            granted, actual(calling.result()) if failed is None else BudgetSettle(reservation_id="")
        )
        raise
    except (PipeRunError, ProviderError):
        await _settle_all(granted, BudgetSettle(reservation_id=""))
        raise
    await _settle_all(granted, actual(result))
    return result


async def _settle_all(granted: Sequence[tuple[Gate, str]], settled: BudgetSettle) -> None:
    for gate, reservation in granted:
        await gate.settle(reservation, settled)


def priced(
    tokens: Mapping[str, int], costs: Mapping[str, float] | None, image_cost: float | None
) -> BudgetSettle:
    """What a call that used `tokens` cost (the reservation id is filled in when it settles)."""
    cost = call_cost(costs, tokens, image_cost)
    counted = sum(count for category, count in tokens.items() if category in (INPUT, OUTPUT))
    return BudgetSettle(reservation_id="", cost_usd=cost or 0.0, tokens=counted)


def image_estimate(
    prompt: str, images: int, costs: Mapping[str, float] | None, image_cost: float | None
) -> CallEstimate:
    """An image generation's worst case: the prompt's bytes, `IMAGE_OUTPUT_TOKENS` and `image_cost`
    for each image."""
    input_tokens = len(prompt.encode("utf-8")) + MESSAGE_OVERHEAD_TOKENS + CALL_OVERHEAD_TOKENS
    tokens = {INPUT: input_tokens, OUTPUT: IMAGE_OUTPUT_TOKENS * images, IMAGES: images}
    cost = call_cost(costs, tokens, image_cost)
    return CallEstimate(input_tokens=input_tokens, output_tokens=tokens[OUTPUT], cost_usd=cost or 0.0)


@contextmanager
def activated(gates: Sequence[Gate], output_cap: int) -> Generator[None]:
    """Within the block, model calls (of this task) reserve with every one of `gates` (none: no
    round trip), and a call without `max_tokens` is capped at `output_cap` when there is a gate."""
    token = _ACTIVE.set((tuple(gates), output_cap))
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def active() -> tuple[Gate, ...]:
    """The gates the current invocation's model calls reserve with (none when nothing limits them)."""
    return _ACTIVE.get()[0]


def output_cap() -> int | None:
    """The output cap a call without `max_tokens` gets, when some gate must bound its worst case."""
    gates, cap = _ACTIVE.get()
    return cap if any(gate.bounds_cost for gate in gates) else None
