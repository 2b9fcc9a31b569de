"""The arithmetic of large batches (shared/runtime/batch_plan.py): chunks partition the items in order,
the window never holds more than its size and starts chunks in order, counters stay exact, a state
carried across continue-as-new (dumped and read back) goes on identically, and progress events are
paced to one per interval plus the last.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.runtime.batch_plan import (
    BatchCounters,
    EventCoalescer,
    SlidingWindow,
    batch_key,
    chunk_count,
    chunk_range,
    should_continue_as_new,
)


@given(total=st.integers(0, 5_000), chunk=st.integers(1, 700))
def test_chunks_partition_the_items_in_order(total: int, chunk: int) -> None:
    covered = [
        index for number in range(chunk_count(total, chunk)) for index in chunk_range(number, total, chunk)
    ]
    assert covered == list(range(total))
    assert all(len(chunk_range(number, total, chunk)) <= chunk for number in range(chunk_count(total, chunk)))


def test_chunk_arithmetic_refuses_what_is_not_a_batch() -> None:
    assert chunk_count(1_000_000, 100) == 10_000
    assert chunk_range(9_999, 1_000_000, 100) == range(999_900, 1_000_000)
    assert chunk_count(0, 100) == 0
    with pytest.raises(ValueError, match="chunk_items"):
        chunk_count(10, 0)
    with pytest.raises(ValueError, match="total_items"):
        chunk_count(-1, 10)
    with pytest.raises(IndexError):
        chunk_range(1, 100, 100)


@settings(max_examples=200)
@given(
    total_chunks=st.integers(0, 60),
    window=st.integers(1, 9),
    picks=st.lists(st.integers(0, 1_000), max_size=200),
    per_history=st.integers(1, 12),
)
def test_the_window_runs_every_chunk_once_in_order_across_histories(
    total_chunks: int, window: int, picks: list[int], per_history: int
) -> None:
    state = SlidingWindow(total_chunks=total_chunks, window=window)
    started: list[int] = []
    completed: list[int] = []
    completions_here = 0
    histories = 1
    pick = iter(picks)
    while not state.is_done:
        while state.can_start:
            chunk, state = state.start()
            started.append(chunk)
        assert 0 < len(state.in_flight) <= window
        # Chunks end in any order: the one picked by the example.
        ending = state.in_flight[next(pick, 0) % len(state.in_flight)]
        state = state.complete(ending)
        completed.append(ending)
        completions_here += 1
        if should_continue_as_new(completions_here, per_history, state):
            # Continue-as-new: the state travels as a payload and is read back in the new history.
            state = SlidingWindow.model_validate_json(state.model_dump_json())
            completions_here = 0
            histories += 1
    assert started == list(range(total_chunks))
    assert sorted(completed) == list(range(total_chunks))
    assert histories <= max(1, -(-total_chunks // per_history))


def test_the_window_refuses_impossible_moves() -> None:
    state = SlidingWindow(total_chunks=2, window=1)
    chunk, state = state.start()
    assert not state.can_start
    with pytest.raises(ValueError, match="no chunk may start"):
        state.start()
    with pytest.raises(ValueError, match="not in flight"):
        state.complete(chunk + 1)
    with pytest.raises(ValidationError):
        SlidingWindow(total_chunks=3, window=2, next_chunk=1, in_flight=(2,), completed=0)
    with pytest.raises(ValidationError):
        SlidingWindow(total_chunks=3, window=2, next_chunk=2, in_flight=(0,), completed=0)


@given(
    total=st.integers(0, 2_000),
    chunk=st.integers(1, 300),
    failures=st.lists(st.integers(0, 1_999), max_size=50, unique=True),
)
def test_counters_stay_exact(total: int, chunk: int, failures: list[int]) -> None:
    failed_items = {index for index in failures if index < total}
    counters = BatchCounters(total=total)
    for number in range(chunk_count(total, chunk)):
        items = chunk_range(number, total, chunk)
        counters = counters.chunk_started(len(items))
        assert counters.pending + counters.in_flight + counters.done + counters.failed == total
        failed = sum(1 for index in items if index in failed_items)
        counters = counters.chunk_ended(done=len(items) - failed, failed=failed)
    assert counters == BatchCounters(total=total, done=total - len(failed_items), failed=len(failed_items))


def test_counters_refuse_more_than_they_hold() -> None:
    counters = BatchCounters(total=5).chunk_started(3)
    with pytest.raises(ValueError, match="cannot start"):
        counters.chunk_started(3)
    with pytest.raises(ValueError, match="cannot end"):
        counters.chunk_ended(done=3, failed=1)
    with pytest.raises(ValidationError):
        BatchCounters(total=1, done=1, failed=1)


@given(gaps=st.lists(st.floats(0, 3, allow_nan=False), min_size=1, max_size=300))
def test_progress_events_are_paced_to_one_per_interval_plus_the_last(gaps: list[float]) -> None:
    coalescer = EventCoalescer()
    now = 0.0
    emitted: list[float] = []
    for number, gap in enumerate(gaps):
        now += gap
        emit, coalescer = coalescer.offer(now, final=number == len(gaps) - 1)
        if emit:
            emitted.append(now)
    assert emitted[0] == gaps[0]  # the first change is reported at once
    assert emitted[-1] == now  # and the last always
    # Between any two emitted events but the last, a full interval of workflow time has passed.
    assert all(later - earlier >= 1.0 for earlier, later in itertools.pairwise(emitted[:-1]))
    assert len(emitted) <= now + 2


def test_batch_keys_are_short_stable_and_distinct() -> None:
    deep = "/".join(["m.pipe", *(f"item_{n}" for n in range(500))])
    assert batch_key(deep) == batch_key(deep)
    assert len(batch_key(deep)) == 25
    assert batch_key("m.pipe/step_1") != batch_key("m.pipe/step_2")
