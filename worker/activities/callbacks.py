"""The callback delivery activity (http-api.md §10.3 to §10.5): one attempt to POST one run's event to
one URL, signed afresh, to an address checked again at delivery time.

A terminal answer (2xx, 410, a refused destination) returns its outcome; any other answer or network
error raises, and Temporal's retry policy schedules the next attempt. An attempt has one deadline
(`attempt_timeout_seconds`, however slowly the receiver reads or answers), reads only the answer's
status (never its body, which may be enormous), and never trusts a certificate the CA bundle does not
vouch for (`tls_error`). Every attempt is logged in storage before the activity returns, since
Temporal's history keeps only the last one, and in the worker's log as one line (a receiver that keeps refusing is expected, not a fault worth a traceback).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import certifi
import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from shared.callbacks.signing import signed_headers, webhook_id
from shared.runs.names import DELIVER_CALLBACK_ACTIVITY
from shared.runs.timestamps import rfc3339
from shared.runs.workflow_io import CallbackTask, DeliveryOutcome
from shared.security.destination import DestinationRefused, pinned_request_args, resolve_checked
from shared.storage.blob_store import BlobStore
from shared.storage.delivery_log import put_attempt
from worker.metrics import record_callback_attempt

USER_AGENT = "methodflow/0.1.0"
RETRY_ERROR_TYPE = "callback.retry"

logger = logging.getLogger(__name__)


class CallbackActivities:
    """Holds what every delivery needs: storage for the log, the signing secrets, the address rule."""

    def __init__(self, store: BlobStore, secrets: str | None, *, allow_private: bool) -> None:
        self.store = store
        self.secrets = secrets
        self.allow_private = allow_private
        # One TLS context for every attempt: building one (loading the CA bundle) costs tens of
        # milliseconds, while a client per attempt is needed (its pool is keyed by address, see below).
        self.tls = ssl.create_default_context(cafile=certifi.where())

    @activity.defn(name=DELIVER_CALLBACK_ACTIVITY)
    async def deliver_callback(self, task: CallbackTask) -> DeliveryOutcome:
        info = activity.info()
        # Temporal counts the attempts of this activity; a redelivery's go on after those logged.
        attempt = task.first_attempt - 1 + info.attempt
        delivery_id = webhook_id(task.webhook_key, task.url)
        started = datetime.now(UTC)
        clock = time.monotonic()
        outcome, status_code, error = await self._attempt(task)
        record_callback_attempt(outcome, time.monotonic() - clock)
        record: dict[str, Any] = {
            "attempt": attempt,
            "started_at": rfc3339(started),
            "duration_ms": round((time.monotonic() - clock) * 1000),
            "status_code": status_code,
            "error": error,
            "outcome": outcome,
        }
        next_at = datetime.now(UTC) + _backoff(task, info.attempt)
        if outcome == "retry":
            record["next_attempt_at"] = rfc3339(next_at)
        await asyncio.to_thread(
            put_attempt, self.store, task.storage_prefix, task.run_id, delivery_id, record
        )
        answer = f"status {status_code}" if status_code is not None else "no answer"
        line = (
            f"callback run={task.run_id} delivery={delivery_id} host={urlsplit(task.url).hostname} "
            f"attempt={attempt}: {answer}, error={error or 'none'}, outcome={outcome}"
        )
        if outcome == "delivered":
            logger.info("%s", line)
            return DeliveryOutcome(url=task.url, state=outcome)
        if outcome != "retry":
            logger.warning("%s; not retried", line)
            return DeliveryOutcome(url=task.url, state=outcome)
        logger.warning("%s; %s", line, _next_step(info, next_at))
        # Benign: the SDK logs it at debug level instead of a warning with the whole traceback, and
        # the line above already said everything; Temporal still retries it.
        msg = f"callback to {delivery_id} not delivered: {answer}, error={error or 'none'}"
        raise ApplicationError(msg, type=RETRY_ERROR_TYPE, category=ApplicationErrorCategory.BENIGN)

    async def _attempt(self, task: CallbackTask) -> tuple[str, int | None, str | None]:
        """(outcome, status code, error) of one POST: delivered, gone, refused or retry."""
        if not self.secrets:
            # The API refuses callbacks without a secret; a worker without one cannot sign: retry, so
            # that a redeployed worker with the secret still delivers within the window.
            return "retry", None, "signing_secret_missing"
        try:
            destination = await resolve_checked(task.url, allow_private=self.allow_private)
        except DestinationRefused:
            return "refused", None, "address_refused"
        target, pinned_headers, extensions = pinned_request_args(destination, task.url)
        body = task.body.encode("utf-8")
        headers = signed_headers(
            self.secrets,
            task.run_id,
            task.url,
            int(time.time()),
            body,
            USER_AGENT,
            webhook_key=task.webhook_key,
        )
        try:
            # One deadline over the whole attempt: httpx's timeout bounds each socket operation, so a
            # receiver answering a byte at a time would otherwise hold the attempt for ever.
            async with asyncio.timeout(task.policy.attempt_timeout_seconds):
                status = await self._post(target, body, {**headers, **pinned_headers}, extensions, task)
        except (httpx.TimeoutException, TimeoutError):
            return "retry", None, "timeout"
        except httpx.ConnectError as exc:
            return "retry", None, "tls_error" if _caused_by_tls(exc) else "connect_error"
        except httpx.HTTPError:
            return "retry", None, "connect_error"
        if 200 <= status < 300:
            return "delivered", status, None
        if status == 410:
            return "gone", status, None
        if 300 <= status < 400:
            return "retry", status, "redirect_not_followed"
        return "retry", status, None

    async def _post(
        self,
        target: str,
        body: bytes,
        headers: dict[str, str],
        extensions: dict[str, str],
        task: CallbackTask,
    ) -> int:
        """POST the event; the answer's status, its body left unread (only the status counts, and a
        receiver's body may be enormous: closing the response drops the connection)."""
        # A client per attempt: a shared pool keyed by (scheme, IP, port) could reuse a TLS connection
        # verified for another host name on the same address.
        async with (
            httpx.AsyncClient(
                timeout=task.policy.attempt_timeout_seconds,
                follow_redirects=False,
                trust_env=False,
                verify=self.tls,
            ) as client,
            client.stream("POST", target, content=body, headers=headers, extensions=extensions) as response,
        ):
            return response.status_code


def _caused_by_tls(exc: BaseException) -> bool:
    """Whether a TLS failure (an untrusted certificate, a handshake refused) lies under `exc`: httpx
    wraps httpcore's error, which wraps the `ssl` one."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _next_step(info: activity.Info, next_at: datetime) -> str:
    """What follows a failed attempt: the next one, unless the retry window closes before it."""
    window = info.schedule_to_close_timeout
    if window is not None and next_at >= info.scheduled_time + window:
        return "the retry window closes first: the delivery fails"
    return f"next attempt at {rfc3339(next_at)}"


def _backoff(task: CallbackTask, attempt: int) -> timedelta:
    """When Temporal's retry policy schedules the next attempt (initial * coefficient^(n-1), capped)."""
    policy = task.policy
    seconds = policy.initial_interval_seconds * policy.backoff_coefficient ** (attempt - 1)
    return timedelta(seconds=min(seconds, policy.max_interval_seconds))
