"""The blob store's faults as answers: a store that is down, full or refusing (`StorageUnavailableError`,
raised deep in `shared.storage`) answers 503 `runtime.unavailable` naming the storage, never a 500.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from starlette.responses import Response

from api.problems import ProblemError, problem_response
from api.request_id import request_id_of
from shared.problems.catalogue import ProblemCode
from shared.storage.blob_store import StorageUnavailableError

# The store is usually back within seconds (a restart, a freed disk): the caller may send it again.
STORAGE_RETRY_AFTER = 5

logger = logging.getLogger(__name__)


def storage_unavailable() -> ProblemError:
    """503 `runtime.unavailable` for the storage; nothing was started, the same request may be sent again."""
    return ProblemError(
        ProblemCode.RUNTIME_UNAVAILABLE,
        "The service's storage cannot be reached or written right now.",
        params={"component": "storage"},
        retry_after=STORAGE_RETRY_AFTER,
    )


async def _on_storage_unavailable(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, StorageUnavailableError):  # registered for StorageUnavailableError only
        raise exc
    request_id = request_id_of(request.scope)
    # The operator's to see (the cause may name a path or a bucket); the caller gets the fixed detail.
    logger.warning("storage unavailable (request_id=%s): %s", request_id, exc)
    return problem_response(storage_unavailable(), request_id)


def install_storage_problem_handler(app: FastAPI) -> None:
    app.add_exception_handler(StorageUnavailableError, _on_storage_unavailable)
