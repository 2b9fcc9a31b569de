"""When the client sends a request again, and after how long: 429, 502, 503 and 504 answers and
connection failures are retried, honouring `Retry-After` (seconds) or else backing off exponentially,
all within one total deadline. Pure but for `Attempts`, which reads the clock: the clients sleep.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from client.errors import ServiceUnavailable, problem_of

RETRIED_STATUSES = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """`deadline`: seconds from the first attempt after which no new attempt starts; `initial_delay`,
    `factor` and `max_delay` shape the backoff when the answer gives no `Retry-After`."""

    deadline: float = 60.0
    initial_delay: float = 0.5
    factor: float = 2.0
    max_delay: float = 10.0

    def backoff(self, attempt: int) -> float:
        """The pause after failed attempt number `attempt` (1-based), without `Retry-After`."""
        return min(self.max_delay, self.initial_delay * self.factor ** (attempt - 1))


def is_retried(response: httpx.Response, problem: dict[str, object] | None) -> bool:
    """Whether this answer is worth sending the request again.

    A problem naming a run (`pipeline_run_id`) is that run's own outcome, replayed identically on every
    retry (`/execute` of a run that failed on a 502 provider): it is never retried.
    """
    if response.status_code not in RETRIED_STATUSES:
        return False
    return not (problem and problem.get("pipeline_run_id"))


def retry_after(response: httpx.Response) -> float | None:
    """The answer's `Retry-After` in seconds, when it holds a non-negative number of seconds."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None  # an HTTP date: rare from this service, so the backoff decides instead
    return seconds if seconds >= 0 else None


def next_delay(policy: RetryPolicy, attempt: int, response: httpx.Response | None) -> float:
    """The pause before the next attempt: the answer's `Retry-After`, else the policy's backoff."""
    told = retry_after(response) if response is not None else None
    return told if told is not None else policy.backoff(attempt)


def pause_before_retry(
    policy: RetryPolicy, attempt: int, elapsed: float, response: httpx.Response | None
) -> float | None:
    """The pause before attempt `attempt + 1`, or None to stop: the answer is final, or the pause
    would end past the deadline. `response` is None when the attempt failed to connect or read."""
    if response is not None and not is_retried(response, problem_of(response)):
        return None
    delay = next_delay(policy, attempt, response)
    return delay if elapsed + delay <= policy.deadline else None


class Attempts:
    """The attempts of one call, shared by both clients' send loops: after each, the pause before the
    next one, or None when this answer is final. `retried` False: a single attempt."""

    def __init__(self, policy: RetryPolicy, *, retried: bool, service: str) -> None:
        self._policy = policy
        self._retried = retried
        self._service = service
        self._started = time.monotonic()
        self._made = 0

    def pause_after(self, response: httpx.Response) -> float | None:
        """The pause before the next attempt after this answer, or None: read it, it is final."""
        self._made += 1
        return self._pause(response)

    def pause_after_failure(self, error: httpx.TransportError) -> float:
        """The pause before the next attempt after a failure to connect or read; `ServiceUnavailable`
        when no attempt is left."""
        self._made += 1
        pause = self._pause(None)
        if pause is None:
            msg = f"the service at {self._service} could not be reached after {self._made} attempts: {error}"
            raise ServiceUnavailable(msg, domain="runtime") from error
        return pause

    def _pause(self, response: httpx.Response | None) -> float | None:
        if not self._retried:
            return None
        return pause_before_retry(self._policy, self._made, time.monotonic() - self._started, response)
