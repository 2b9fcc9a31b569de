"""The problem catalogue and the problem document's shape (http-api.md §13)."""

from __future__ import annotations

import re

import pytest

from api.problems import ProblemError, problem_document, request_invalid, request_too_large
from shared.problems.catalogue import CATALOGUE, ProblemCode

CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){1,2}$")

# Status and domain/retry per code, as §13.2 lists them.
SPEC_TABLE = {
    "request.not_found": (404, "input", "no"),
    "request.method_not_allowed": (405, "input", "no"),
    "request.too_large": (413, "input", "no"),
    "request.malformed": (422, "input", "no"),
    "request.invalid": (422, "input", "no"),
    "request.blobs_missing": (422, "input", "no"),
    "method.invalid": (422, "method", "no"),
    "run.cancelled": (409, "input", "yes"),
    "runtime.misconfigured": (500, "operator", "no"),
    "runtime.unexpected": (500, "runtime", "no"),
    "pipelex.deployment.custom_code_requires_sandbox": (501, "operator", "no"),
    "provider.credential_refused": (502, "operator", "no"),
    "runtime.unavailable": (503, "runtime", "yes"),
    "provider.timeout": (504, "runtime", "yes"),
}


def test_catalogue_covers_every_code() -> None:
    assert set(CATALOGUE) == set(ProblemCode)
    assert len(ProblemCode) == 59
    for code, spec in CATALOGUE.items():
        assert CODE_PATTERN.match(code.value), code
        assert spec.title, code
        assert spec.next_step_detail, code


@pytest.mark.parametrize(("code", "expected"), SPEC_TABLE.items())
def test_catalogue_matches_the_spec(code: str, expected: tuple[int, str, str]) -> None:
    spec = CATALOGUE[ProblemCode(code)]
    assert (spec.status, spec.domain, spec.retry) == expected


def test_request_not_found_asks_for_an_upgrade() -> None:
    assert CATALOGUE[ProblemCode.REQUEST_NOT_FOUND].next_step == "upgrade"


def test_type_uri_depends_on_the_code_family() -> None:
    assert ProblemCode.REQUEST_INVALID.type_uri == "https://mthds.ai/errors/request.invalid"
    assert (
        ProblemCode.PIPELEX_RESERVED_KEY.type_uri
        == "https://docs.pipelex.com/errors/pipelex.security.reserved_key"
    )


def test_document_members_are_ordered_and_never_null() -> None:
    error = ProblemError(
        ProblemCode.RUNTIME_UNAVAILABLE,
        "Temporal does not answer.",
        params={"component": "temporal", "unused": None},
        retry_after=5,
        pipeline_run_id="run-1",
    )
    document = problem_document(error, "req-1")
    assert list(document) == [
        "type", "title", "status", "detail", "code", "domain", "retry", "retry_after", "next_step",
        "params", "pipeline_run_id", "request_id",
    ]  # fmt: skip
    assert document["params"] == {"component": "temporal"}
    assert document["retry_after"] == 5


def test_request_invalid_matches_the_spec_example() -> None:
    document = problem_document(
        request_invalid(field="mthds_contents", reason="input should be a valid list."), "r"
    )
    assert document["title"] == "The request does not match the route's schema"
    assert document["next_step"] == {
        "kind": "change_input",
        "detail": "Correct the field 'mthds_contents' as the route's schema requires, then send the request again.",
    }
    assert document["params"] == document["location"] == {"field": "mthds_contents"}


def test_too_large_without_field_has_only_limit_and_size() -> None:
    document = problem_document(request_too_large(detail="Too big.", limit=10, size=11), "r")
    assert document["params"] == {"limit": 10, "size": 11}
    assert "location" not in document


def test_run_only_codes_are_never_answered() -> None:
    with pytest.raises(ValueError, match=r"run\.terminated"):
        ProblemError(ProblemCode.RUN_TERMINATED, "Terminated.")
