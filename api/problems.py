"""Every error answer: the `ProblemError` raised deep in the code, and its RFC 9457 problem document (§13).

The only module that shapes error bodies: routes raise, the handlers and the catch-all middleware here answer.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.request_id import request_id_of
from shared.problems.bounds import bounded_problem
from shared.problems.catalogue import CATALOGUE, ProblemCode

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
UNEXPECTED_DETAIL = "The service met an unexpected error; it is logged under this request id."


class ProblemError(Exception):
    """A failure that answers with the problem document of `code` (status, title... from the catalogue)."""

    def __init__(
        self,
        code: ProblemCode,
        detail: str,
        *,
        params: Mapping[str, Any] | None = None,
        location: Mapping[str, Any] | None = None,
        errors: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        next_step_detail: str | None = None,
        retry_after: int | None = None,
        pipeline_run_id: str | None = None,
        run_error: Mapping[str, Any] | None = None,
    ) -> None:
        spec = CATALOGUE[code]
        if spec.status is None:
            msg = f"{code} only describes how a run ended; it is never an HTTP answer"
            raise ValueError(msg)
        super().__init__(detail)
        self.code = code
        self.status = spec.status
        self.detail = detail
        self.params = dict(params or {})
        self.location = dict(location or {})
        self.errors = [dict(item) for item in errors or ()]
        self.headers = dict(headers or {})
        self.next_step_detail = next_step_detail or spec.next_step_detail
        self.retry_after = retry_after
        self.pipeline_run_id = pipeline_run_id
        self.run_error = dict(run_error) if run_error is not None else None


def request_invalid(*, field: str, reason: str) -> ProblemError:
    """422 `request.invalid` naming the first bad field (§4.5 step 3)."""
    return ProblemError(
        ProblemCode.REQUEST_INVALID,
        f"The request's field '{field}' does not match the route's schema: {reason}",
        params={"field": field},
        location={"field": field},
        next_step_detail=(
            f"Correct the field '{field}' as the route's schema requires, then send the request again."
        ),
    )


def request_too_large(*, detail: str, limit: int, size: int, field: str | None = None) -> ProblemError:
    """413 `request.too_large`; `limit` and `size` in bytes, or in entries for count limits."""
    if field is None:
        return ProblemError(ProblemCode.REQUEST_TOO_LARGE, detail, params={"limit": limit, "size": size})
    return ProblemError(
        ProblemCode.REQUEST_TOO_LARGE,
        detail,
        params={"field": field, "limit": limit, "size": size},
        location={"field": field},
    )


def _without_nulls(members: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in members.items() if value is not None}


def problem_document(error: ProblemError, request_id: str) -> dict[str, Any]:
    """The members in the reference's order (§13.1); members without a value are absent, never null.

    Bounded (`shared.problems.bounds`): a refusal naming a million keys answers with a few of them.
    """
    spec = CATALOGUE[error.code]
    document: dict[str, Any] = {
        "type": error.code.type_uri,
        "title": spec.title,
        "status": error.status,
        "detail": error.detail,
        "code": error.code.value,
        "domain": spec.domain,
        "retry": spec.retry,
    }
    if error.retry_after is not None:
        document["retry_after"] = error.retry_after
    document["next_step"] = {"kind": spec.next_step, "detail": error.next_step_detail}
    optional = {
        "params": _without_nulls(error.params),
        "location": _without_nulls(error.location),
        "errors": error.errors,
    }
    document.update({key: value for key, value in optional.items() if value})
    if error.pipeline_run_id is not None:
        document["pipeline_run_id"] = error.pipeline_run_id
    document["request_id"] = request_id
    if error.run_error is not None:
        document["run_error"] = error.run_error
    return bounded_problem(document)


def problem_response(error: ProblemError, request_id: str) -> Response:
    """The HTTP answer for `error`, with its headers (`Allow`, `Retry-After`...)."""
    headers = dict(error.headers)
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    return JSONResponse(
        problem_document(error, request_id),
        status_code=error.status,
        headers=headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


async def _on_problem(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, ProblemError):  # registered for ProblemError only
        raise exc
    return problem_response(exc, request_id_of(request.scope))


def _quoted_path(request: Request) -> str:
    # Bounded: the path is the caller's text and only helps a person reading the detail.
    path = request.url.path
    return path if len(path) <= 200 else f"{path[:200]}..."


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, StarletteHTTPException):  # registered for HTTPException only
        raise exc
    if exc.status_code == 404:
        error = ProblemError(
            ProblemCode.REQUEST_NOT_FOUND,
            f"The path '{_quoted_path(request)}' does not exist on this service.",
        )
    elif exc.status_code == 405:
        allow = (exc.headers or {}).get("Allow", "")
        error = ProblemError(
            ProblemCode.REQUEST_METHOD_NOT_ALLOWED,
            f"The route '{_quoted_path(request)}' does not accept the method {request.method}.",
            headers={"Allow": allow},
        )
    else:
        # Our routes raise ProblemError; any other HTTPException is a bug worth a log line and a 500.
        logger.error(
            "HTTPException %s escaped (request_id=%s)", exc.status_code, request_id_of(request.scope)
        )
        error = ProblemError(ProblemCode.RUNTIME_UNEXPECTED, UNEXPECTED_DETAIL)
    return problem_response(error, request_id_of(request.scope))


async def _on_request_validation(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, RequestValidationError):  # registered for RequestValidationError only
        raise exc
    first: dict[str, Any] = exc.errors()[0] if exc.errors() else {}
    loc = [str(part) for part in first.get("loc", ())]
    # Drop FastAPI's "body"/"query"/"path" prefix: callers know fields by their own names.
    field = loc[1] if len(loc) > 1 else (loc[0] if loc else "body")
    reason = str(first.get("msg", "invalid value")).lower()
    return problem_response(request_invalid(field=field, reason=f"{reason}."), request_id_of(request.scope))


def install_problem_handlers(app: FastAPI) -> None:
    """Route every framework and domain error through `problem_response`."""
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(RunProblem, _on_run_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_request_validation)


class UnexpectedErrorMiddleware:
    """Last resort inside the request-id layer: any escaped exception becomes 500 `runtime.unexpected`.

    Starlette's own ServerErrorMiddleware sits outside every user middleware, so its answer would miss
    the request id; this one answers from inside, logs the traceback, and never returns it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except ClientDisconnect:
            # The caller left while sending its body: nobody is there to read an answer.
            return
        except ProblemError as exc:
            # Raised outside a route (a middleware's receive wrapper): still an ordinary problem.
            if started:
                raise
            await problem_response(exc, request_id_of(scope))(scope, receive, send)
        except Exception:  # turned into the fixed 500 problem below; the traceback is logged
            logger.exception("unexpected error (request_id=%s)", request_id_of(scope))
            if started:
                # Half an answer is on the wire: only closing the connection is left.
                raise
            error = ProblemError(ProblemCode.RUNTIME_UNEXPECTED, UNEXPECTED_DETAIL)
            await problem_response(error, request_id_of(scope))(scope, receive, send)


class RunProblem(Exception):
    """A run that ended badly, answered with the run's own problem and status (http-api.md §5, §7)."""

    def __init__(self, document: Mapping[str, Any], status: int) -> None:
        super().__init__(str(document.get("detail", "")))
        self.document = dict(document)
        self.status = status


def run_problem_response(error: RunProblem, request_id: str) -> Response:
    """The run's error with `status` after `title` and the request id last (§13.1 member order)."""
    document: dict[str, Any] = {}
    for key, value in error.document.items():
        if key in ("status", "request_id") or value is None:
            continue
        document[key] = value
        if key == "title":
            document["status"] = error.status
    document["request_id"] = request_id
    # Bounded here too: a run error recorded before the worker bounded its own is answered bounded.
    return JSONResponse(bounded_problem(document), status_code=error.status, media_type=PROBLEM_MEDIA_TYPE)


async def _on_run_problem(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, RunProblem):  # registered for RunProblem only
        raise exc
    return run_problem_response(exc, request_id_of(request.scope))
