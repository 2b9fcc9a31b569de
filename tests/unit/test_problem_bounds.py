"""Every problem document is bounded (issue 18): texts, lists, objects, nesting and the encoded whole."""

from __future__ import annotations

from typing import Any, cast

from api.problems import ProblemError, problem_document
from shared.problems.bounds import (
    MAX_DOCUMENT_BYTES,
    NESTED_TOO_DEEP,
    bounded_problem,
    bounded_text,
    encoded_size,
)
from shared.problems.catalogue import ProblemCode
from shared.problems.run_errors import failure_error, run_error
from shared.runtime.run_failure import PipeRunError

# Large enough that an unbounded document would be megabytes; small enough to build in a blink.
MANY = 100_000


def _document(**members: Any) -> dict[str, Any]:
    return {
        "type": "https://mthds.ai/errors/input.invalid",
        "title": "An input is invalid",
        "status": 422,
        "detail": "Pipe 'hello' declares no input named 'k0'.",
        "code": "input.invalid",
        "domain": "input",
        "retry": "no",
        "next_step": {"kind": "change_input", "detail": "Correct the input, then send the request again."},
        **members,
        "request_id": "01M84BVJYF6X0CKQ8KKE1XX2CZ",
    }


def test_a_normal_problem_is_unchanged() -> None:
    errors = [{"code": "method.invalid", "detail": f"fault {n}", "location": {"line": n}} for n in range(20)]
    document = _document(
        params={"input": "k0", "pipe": "hello", "suggestions": ["a", "b"]},
        location={"field": "inputs.k0"},
        errors=errors,
        pipeline_run_id="run-1",
    )
    assert bounded_problem(document) == document
    assert list(bounded_problem(document)) == list(document)


def test_a_long_text_keeps_500_characters_and_says_how_many_were_cut() -> None:
    assert bounded_text("x" * 500) == "x" * 500
    assert bounded_text("x" * 1200) == "x" * 500 + "... [700 more characters]"
    long_name = "n" * MANY
    bounded = bounded_problem(
        _document(
            detail="d" * (40 * MANY),
            next_step={"kind": "change_input", "detail": f"Correct the field '{long_name}'."},
            params={"field": long_name},
        )
    )
    assert bounded["detail"] == "d" * 500 + f"... [{40 * MANY - 500} more characters]"
    assert len(bounded["next_step"]["detail"]) < 600
    assert bounded["next_step"]["kind"] == "change_input"
    assert bounded["params"]["field"].endswith(f"... [{MANY - 500} more characters]")


def test_a_list_keeps_twenty_items_and_counts_the_others() -> None:
    keys = [f"k{n}" for n in range(MANY)]
    bounded = bounded_problem(_document(params={"keys": keys, "pipe": "hello"}))
    assert bounded["params"] == {"keys": keys[:20], "keys_omitted": MANY - 20, "pipe": "hello"}


def test_an_object_keeps_twenty_members_and_counts_the_others() -> None:
    given = {f"k{n}": n for n in range(MANY)}
    bounded = bounded_problem(_document(params={"given": given}))
    assert bounded["params"]["given"] == {**{f"k{n}": n for n in range(20)}, "omitted_members": MANY - 20}


def test_cut_errors_are_counted_in_params_at_their_place_in_the_member_order() -> None:
    errors = [{"code": "method.invalid", "detail": f"fault {n}"} for n in range(1000)]
    bounded = bounded_problem(_document(errors=errors, pipeline_run_id="run-1"))
    assert bounded["errors"] == errors[:20]
    assert bounded["params"] == {"errors_omitted": 980}
    assert list(bounded) == [
        "type", "title", "status", "detail", "code", "domain", "retry", "next_step",
        "params", "errors", "pipeline_run_id", "request_id",
    ]  # fmt: skip
    with_params = bounded_problem(_document(params={"pipe": "p"}, errors=errors))
    assert with_params["params"] == {"pipe": "p", "errors_omitted": 980}


def test_deep_nesting_is_cut_with_a_marker() -> None:
    nested: Any = "bottom"
    for _ in range(100):
        nested = {"down": [nested]}
    bounded = bounded_problem(_document(params={"given": nested}))
    text = str(bounded["params"])
    assert NESTED_TOO_DEEP in text
    assert "bottom" not in text


def test_many_long_texts_share_one_budget() -> None:
    # 20 lists of 20 texts of 500 characters would be 200,000 characters: the budget stops far earlier.
    params = {f"list{n}": ["t" * 1000] * 20 for n in range(20)}
    bounded = bounded_problem(_document(params=params))
    lists = [cast("list[str]", items) for items in bounded["params"].values() if isinstance(items, list)]
    kept = sum(len(item) for items in lists for item in items)
    assert 10_000 < kept < 20_000
    assert bounded["params"]["omitted_members"] > 0
    assert encoded_size(bounded) <= MAX_DOCUMENT_BYTES


def test_texts_that_escape_to_six_bytes_a_character_still_fit() -> None:
    # Control characters encode as \\u0001: the default cut (16,000 characters) would be ~96 KiB.
    control = "\x01" * 1000
    document = _document(params={"given": [control] * 100, "more": [control] * 100})
    assert encoded_size(bounded_problem(document, max_bytes=10 * MAX_DOCUMENT_BYTES)) > MAX_DOCUMENT_BYTES
    bounded = bounded_problem(document)
    assert encoded_size(bounded) <= MAX_DOCUMENT_BYTES
    assert bounded["params"]["given"] == [bounded_text(control, 100)] * 5  # the tight cut
    assert bounded["params"]["given_omitted"] == 95


def test_when_nothing_else_fits_only_the_core_members_remain() -> None:
    document = _document(params={"given": ["x" * 400] * 5}, location={"field": "f"}, pipeline_run_id="r")
    bounded = bounded_problem(document, max_bytes=1000)
    assert list(bounded) == [
        "type", "title", "status", "detail", "code", "domain", "retry", "next_step",
        "pipeline_run_id", "request_id",
    ]  # fmt: skip


def test_problem_error_documents_are_bounded() -> None:
    error = ProblemError(
        ProblemCode.METHOD_INVALID,
        "x" * 10_000,
        errors=[{"code": "method.invalid", "detail": "fault"}] * 500,
    )
    document = problem_document(error, "req-1")
    assert len(document["detail"]) < 600
    assert len(document["errors"]) == 20
    assert document["params"] == {"errors_omitted": 480}
    assert encoded_size(document) <= MAX_DOCUMENT_BYTES


def test_a_run_error_is_bounded_where_the_worker_builds_it() -> None:
    document, status = run_error(
        "provider.unavailable",
        "The provider answered: " + "y" * MANY,
        pipeline_run_id="run-1",
        params={"provider": "p", "answers": list(range(MANY))},
    )
    assert status == 502
    assert len(document["detail"]) < 600
    assert document["params"]["answers"] == list(range(20))
    assert document["params"]["answers_omitted"] == MANY - 20
    failure = PipeRunError("pipe.failed", "z" * MANY, pipe="p" * 10_000, params={})
    failed, _ = failure_error(failure, pipeline_run_id="run-1")
    assert encoded_size(failed) <= MAX_DOCUMENT_BYTES
    assert failed["location"]["pipe"].endswith(f"... [{10_000 - 500} more characters]")


def test_values_json_cannot_hold_are_measured_not_refused() -> None:
    # A pipe failure's params come from code: bounding them inside the workflow must never raise.
    document, _ = run_error(
        "pipe.failed", "failed", pipeline_run_id="run-1", params={"at": object(), "ratio": float("nan")}
    )
    assert set(document["params"]) == {"at", "ratio"}
    assert encoded_size(document) < 1_000
