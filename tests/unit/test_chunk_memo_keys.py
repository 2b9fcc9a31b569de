"""The chunk memo key: the same chunk gives the same key whatever run it is in; anything that may change
an output changes it (the whole method, a function's code, the batch's pipes, an item, the memory
around the batch)."""

from __future__ import annotations

from typing import Any

from shared.runs.chunk_memo_keys import CHUNK_KEY_PREFIX, chunk_memo_key

BATCH = {"batch_pipe": "d.all", "branch_pipe": "d.one", "item_name": "item", "output_concept": "Text"}
CONTEXT: dict[str, Any] = {
    "root": {"topic": {"name": "topic", "code": "AbCd1", "concept": "Text", "content": {"text": "t"}}},
    "aliases": {},
    "absences": {},
}


def key(**changes: Any) -> str:
    given: dict[str, Any] = {
        "method_digest": "m1",
        "function_digests": {"echo": "f1"},
        "batch": BATCH,
        "items": [{"text": "a"}, {"text": "b"}],
        "context": CONTEXT,
    }
    return chunk_memo_key(**{**given, **changes})


def test_the_same_chunk_in_another_run_has_the_same_key() -> None:
    other_codes = {
        "root": {"topic": {**CONTEXT["root"]["topic"], "code": "ZzZz9"}},
        "aliases": {},
        "absences": {},
    }
    assert key() == key(context=other_codes)  # stuff codes count within one run only
    assert key().startswith(CHUNK_KEY_PREFIX)


def test_anything_an_output_may_depend_on_changes_the_key() -> None:
    changed_topic = {"root": {"topic": {**CONTEXT["root"]["topic"], "content": {"text": "u"}}}}
    variants = [
        key(method_digest="m2"),
        key(function_digests={"echo": "f2"}),
        key(batch={**BATCH, "branch_pipe": "d.other"}),
        key(items=[{"text": "a"}, {"text": "c"}]),
        key(items=[{"text": "b"}, {"text": "a"}]),
        key(context={**CONTEXT, **changed_topic}),
    ]
    assert len({key(), *variants}) == len(variants) + 1
