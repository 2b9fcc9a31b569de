"""The client's typed errors: one class per problem `domain` of the service (http-api.md §13), read from
an `application/problem+json` answer, plus the client's own failures (unreachable service, a wait that
outlasted its deadline).
"""

from __future__ import annotations

from typing import Any, cast

import httpx


class MethodflowError(Exception):
    """An answer of the service that is not a success, with the problem document's members.

    `status` is the HTTP status (None when no answer came); `code`, `domain` and `retry` are the
    problem's; `params` its per-code facts; `problem` the whole document as received.
    """

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        code: str | None = None,
        domain: str | None = None,
        params: dict[str, Any] | None = None,
        retry: str | None = None,
        request_id: str | None = None,
        problem: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{code or 'error'} ({status}): {detail}" if status else detail)
        self.detail = detail
        self.status = status
        self.code = code
        self.domain = domain
        self.params = params or {}
        self.retry = retry
        self.request_id = request_id
        self.problem = problem or {}

    @property
    def pipeline_run_id(self) -> str | None:
        """The run the problem is about, when it names one (a run's own failure on `/execute`)."""
        run_id = self.problem.get("pipeline_run_id")
        return run_id if isinstance(run_id, str) else None


class InputProblem(MethodflowError):
    """The request is wrong (domain `input`): change it before sending it again."""


class MethodProblem(MethodflowError):
    """The method (bundle) is wrong (domain `method`)."""


class AccountProblem(MethodflowError):
    """The credential or the account is refused (domain `account`): 401s, tenant limits."""


class OperatorProblem(MethodflowError):
    """The service is misconfigured or lacks a capability (domain `operator`): its operator must act."""


class RuntimeProblem(MethodflowError):
    """A runtime fault (domain `runtime`): often worth retrying later."""


class ServiceUnavailable(RuntimeProblem):
    """The service could not be reached, or kept answering 429/502/503/504, until the retries ran out."""


class WaitTimeout(MethodflowError):
    """`wait` reached its deadline before the run ended; the run goes on (`pipeline_run_id`)."""


class RunStillRunning(MethodflowError):
    """A read of a run's output pages before the run ended (the service answered 202): `wait` first."""


_BY_DOMAIN: dict[str, type[MethodflowError]] = {
    "input": InputProblem,
    "method": MethodProblem,
    "account": AccountProblem,
    "operator": OperatorProblem,
    "runtime": RuntimeProblem,
}


def problem_of(response: httpx.Response) -> dict[str, Any] | None:
    """The answer's problem document, or None when its body is no JSON object."""
    try:
        body = response.json()
    except ValueError:
        return None
    return cast("dict[str, Any]", body) if isinstance(body, dict) else None


def error_from(response: httpx.Response) -> MethodflowError:
    """The typed error of a non-success answer: its domain's class when the body is a problem."""
    problem = problem_of(response) or {}
    domain = problem.get("domain")
    error_class = _BY_DOMAIN.get(domain, MethodflowError) if isinstance(domain, str) else MethodflowError
    params = problem.get("params")
    return error_class(
        str(problem.get("detail") or response.reason_phrase or "the service refused the request"),
        status=response.status_code,
        code=_text(problem.get("code")),
        domain=_text(domain),
        params=cast("dict[str, Any]", params) if isinstance(params, dict) else None,
        retry=_text(problem.get("retry")),
        request_id=_text(problem.get("request_id")) or response.headers.get("x-request-id"),
        problem=problem,
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
