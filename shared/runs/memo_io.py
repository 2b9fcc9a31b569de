"""The typed payloads of the memo lookup activity: many invocations' memo entries asked at once. Pure.

A resumed batch asks one activity for the entries of every item in flight, instead of scheduling one
operator activity per item only to have it answer from the memo (`worker/memo_lookups.py`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared.runs.workflow_io import OperatorAnswer, OperatorTask


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MemoLookupTask(_Payload):
    """The operator tasks whose memo entries to look up (their `memo` scopes say which they may take)."""

    tasks: list[OperatorTask]
    # The answers' budget: entries beyond it are left for each task's own operator activity to answer.
    max_answer_bytes: int


class MemoLookupAnswer(_Payload):
    """Per task, by index: the reusable answer (marked `reused_from`), or, in `missing`, no entry at all.

    A task in neither (an entry over the answer's budget, a method the worker could not load) looks for
    itself in its operator activity, which answers from the memo as before.
    """

    answers: dict[int, OperatorAnswer] = Field(default_factory=dict[int, OperatorAnswer])
    missing: list[int] = Field(default_factory=list[int])
