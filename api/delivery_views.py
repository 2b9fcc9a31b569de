"""The delivery log as `GET /v1/runs/{id}/deliveries` shows it (http-api.md §10.6). Pure: the caller
reads the attempts from storage and the delivery workflows' outcomes from Temporal.

A redelivery starts a new round: the state follows the attempts from its first one on, while the
item lists every attempt of every round.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from shared.callbacks.delivery_controls import ENDED_STATES


def redacted_url(url: str) -> str:
    """The URL without userinfo, its query values replaced by `***` (tokens often ride there)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    query = "&".join(f"{key}=***" for key, _ in parse_qsl(parts.query, keep_blank_values=True))
    return urlunsplit((parts.scheme, host, parts.path, query, parts.fragment))


def delivery_state(attempts: list[dict[str, Any]], *, run_ended: bool, final: str | None) -> str:
    """pending, delivering, delivered, gone, refused, failed or cancelled, from one round's attempts."""
    if final in ENDED_STATES:
        return final or "failed"
    if not run_ended or not attempts:
        return "pending"
    last = str(attempts[-1].get("outcome"))
    return last if last in ENDED_STATES else "delivering"


def delivery_item(
    url: str,
    delivery_id: str,
    attempts: list[dict[str, Any]],
    *,
    run_finished_at: str | None,
    final: str | None,
    first_attempt: int = 1,
) -> dict[str, Any]:
    """The delivery's view; `first_attempt` is the first attempt of its current round."""
    current = [attempt for attempt in attempts if int(attempt.get("attempt") or 0) >= first_attempt]
    state = delivery_state(current, run_ended=run_finished_at is not None, final=final)
    delivered = next(
        (attempt for attempt in reversed(attempts) if attempt.get("outcome") == "delivered"), None
    )
    last = current[-1] if current else None
    return {
        "delivery_id": delivery_id,
        "url": redacted_url(url),
        "event_type": "run.finished",
        "state": state,
        "created_at": run_finished_at,
        "delivered_at": delivered.get("started_at") if delivered is not None else None,
        "next_attempt_at": last.get("next_attempt_at")
        if last is not None and state == "delivering"
        else None,
        "attempts": [
            {
                key: attempt.get(key)
                for key in ("attempt", "started_at", "duration_ms", "status_code", "error", "outcome")
            }
            for attempt in attempts
        ],
    }
