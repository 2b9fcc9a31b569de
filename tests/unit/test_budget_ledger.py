"""The run budget's ledger and the worst case of a model call (issue 19, budgets): pure, no Temporal."""

from __future__ import annotations

import random

import pytest

from shared.runs.budget_io import BudgetAnswer, BudgetAsk, BudgetSettle, CallEstimate, RunBudgetStart
from shared.runs.budget_ledger import BudgetLedger
from shared.runs.workflow_io import RunBudget
from tests.helpers.model_servers.model_server import count_tokens
from worker.operators.call_budget import (
    CALL_OVERHEAD_TOKENS,
    IMAGE_TOKENS,
    MESSAGE_OVERHEAD_TOKENS,
    call_estimate,
    prompt_token_bound,
)
from worker.providers.chat import ChatRequest, ImagePart

PRICES = {"input": 1000.0, "output": 2000.0}  # USD per million: 0.001 and 0.002 per token


def ask(reservation_id: str, cost: float, tokens: int = 10, *, expires_in: float = 60) -> BudgetAsk:
    estimate = CallEstimate(input_tokens=tokens, output_tokens=0, cost_usd=cost)
    return BudgetAsk(
        reservation_id=reservation_id, pipe="p", estimate=estimate, expires_in_seconds=expires_in
    )


def ledger(max_cost_usd: float | None = None, max_tokens: int | None = None) -> BudgetLedger:
    return BudgetLedger(
        RunBudgetStart(run_id="r", budget=RunBudget(max_cost_usd=max_cost_usd, max_tokens=max_tokens))
    )


def answered(book: BudgetLedger, asked: BudgetAsk, now: float = 0) -> BudgetAnswer:
    answer = book.reserve(asked, now)
    assert answer is not None, "the ledger asked to wait"
    return answer


def test_a_reservation_is_granted_while_spent_and_held_leave_room_for_it() -> None:
    book = ledger(max_cost_usd=1.0)
    assert answered(book, ask("a", 0.4)).granted
    assert answered(book, ask("b", 0.6)).granted
    # Fits beside what is spent, not beside what is held: it waits for the calls in flight.
    version = book.version
    assert book.reserve(ask("c", 0.01), now=0) is None
    book.settle(BudgetSettle(reservation_id="a", cost_usd=0.3))
    assert book.version != version
    assert answered(book, ask("c", 0.01)).granted
    # Would not fit even if every call in flight cost nothing: refused at once.
    refused = answered(book, ask("d", 0.71))
    assert not refused.granted
    assert (refused.limit_kind, refused.limit, refused.spent, refused.reserved) == (
        "cost_usd",
        1.0,
        0.3,
        0.61,
    )
    assert refused.pipe == "p"
    assert refused.estimate is not None
    assert refused.estimate.cost_usd == 0.71


def test_settling_counts_the_actual_cost_and_a_refusal_is_final() -> None:
    book = ledger(max_cost_usd=1.0)
    assert answered(book, ask("a", 0.9)).granted
    book.settle(BudgetSettle(reservation_id="a", cost_usd=0.2, tokens=5))
    assert book.spend().spent_cost_usd == 0.2
    assert book.spend().reserved_cost_usd == 0.0
    assert not answered(book, ask("b", 0.81)).granted
    # Room again, but the run is stopping: nothing else starts, and every refusal names the first.
    assert answered(book, ask("c", 0.01)) == answered(book, ask("b", 0.81))


def test_a_budget_smaller_than_one_call_refuses_the_first_call_with_its_estimate() -> None:
    refused = answered(ledger(max_cost_usd=0.05), ask("a", 0.06))
    assert not refused.granted
    assert (refused.spent, refused.reserved) == (0.0, 0.0)
    assert refused.estimate is not None
    assert refused.estimate.cost_usd == 0.06


def test_the_token_limit_counts_input_and_output() -> None:
    book = ledger(max_tokens=100)
    assert answered(book, ask("a", 0, tokens=60)).granted
    assert book.reserve(ask("b", 0, tokens=41), now=0) is None
    refused = answered(book, ask("c", 0, tokens=101))
    assert (refused.granted, refused.limit_kind, refused.limit, refused.reserved) == (
        False,
        "tokens",
        100,
        60,
    )


def test_asking_or_settling_twice_counts_once() -> None:
    book = ledger(max_cost_usd=1.0)
    assert answered(book, ask("a", 0.6)).granted
    assert answered(book, ask("a", 0.6)).granted  # a retried RPC
    assert book.spend().reserved_cost_usd == 0.6
    book.settle(BudgetSettle(reservation_id="a", cost_usd=0.1))
    book.settle(BudgetSettle(reservation_id="a", cost_usd=0.1))
    assert (book.spend().spent_cost_usd, book.spend().calls) == (0.1, 1)


def test_a_dead_attempts_reservation_lapses_and_its_late_settle_still_counts() -> None:
    book = ledger(max_cost_usd=1.0)
    assert answered(book, ask("dead", 0.9, expires_in=10)).granted
    assert book.next_deadline() == 10
    assert book.reserve(ask("next", 0.2), now=5) is None  # still held at 5 s
    assert answered(book, ask("next", 0.2), now=11).granted  # lapsed at 10 s: released
    book.settle(BudgetSettle(reservation_id="dead", cost_usd=0.3))
    assert book.spend().spent_cost_usd == 0.3


def test_the_carried_ledger_is_the_same_ledger() -> None:
    book = ledger(max_cost_usd=1.0)
    answered(book, ask("a", 0.5))
    book.settle(BudgetSettle(reservation_id="a", cost_usd=0.25, tokens=7))
    answered(book, ask("b", 0.5))
    carried = BudgetLedger(RunBudgetStart.model_validate_json(book.carry().model_dump_json()))
    assert carried.spend() == book.spend()
    assert carried.reserve(ask("c", 0.3), now=0) is None
    assert not answered(carried, ask("c", 0.8)).granted


@pytest.mark.parametrize("seed", range(20))
def test_spent_never_passes_the_limit_whatever_the_order_of_asks_and_settles(seed: int) -> None:
    picks = random.Random(seed)  # noqa: S311 -- a seeded order of operations, not a secret
    book = ledger(max_cost_usd=0.5)
    open_ids: list[tuple[str, float]] = []
    for step in range(200):
        if open_ids and picks.random() < 0.5:
            reservation_id, worst = open_ids.pop(picks.randrange(len(open_ids)))
            book.settle(BudgetSettle(reservation_id=reservation_id, cost_usd=worst * picks.random()))
        else:
            worst = picks.uniform(0.001, 0.05)
            answer = book.reserve(ask(f"r{step}", worst), now=0)
            if answer is not None and answer.granted:
                open_ids.append((f"r{step}", worst))
        spend = book.spend()
        assert spend.spent_cost_usd + spend.reserved_cost_usd <= 0.5 + 1e-9


def test_the_prompt_bound_counts_every_byte_of_every_message_and_the_overheads() -> None:
    schema = {"type": "object"}
    request = ChatRequest(model="m", user="héllo world", system="sys", json_schema=schema)
    expected = len("héllo world".encode()) + 3 + len('{"type": "object"}')
    assert prompt_token_bound(request) == expected + 3 * MESSAGE_OVERHEAD_TOKENS + CALL_OVERHEAD_TOKENS
    with_image = ChatRequest(model="m", user="a", images=(ImagePart("data:image/png;base64,AA=="),))
    assert (
        prompt_token_bound(with_image)
        == 1 + 2 * MESSAGE_OVERHEAD_TOKENS + CALL_OVERHEAD_TOKENS + IMAGE_TOKENS
    )


def test_the_bound_is_above_what_the_test_server_counts() -> None:
    text = "Say hello to a name that is rather long, with punctuation; and more words."
    assert prompt_token_bound(ChatRequest(model="m", user=text)) >= count_tokens(text)


def test_the_estimate_prices_the_bound_and_every_choices_output_cap() -> None:
    request = ChatRequest(model="m", user="abcd", n=3, max_tokens=10)
    estimate = call_estimate(request, PRICES, None)
    assert estimate.input_tokens == 4 + MESSAGE_OVERHEAD_TOKENS + CALL_OVERHEAD_TOKENS
    assert estimate.output_tokens == 30
    assert estimate.cost_usd == pytest.approx(estimate.input_tokens * 0.001 + 30 * 0.002)
    assert call_estimate(request, None, None).cost_usd == 0.0  # a model without prices
