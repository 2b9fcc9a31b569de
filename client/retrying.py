"""When the client sends a request again, and after how long: 429, 502, 503 and 504 answers and
connection failures are retried, honouring `Retry-After` (seconds) or else backing off exponentially,
all within one total deadline. Pure: the clients sleep and read the clock.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from client.errors import problem_of

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
