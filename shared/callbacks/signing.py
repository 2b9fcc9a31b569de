"""Signatures of completion callbacks (http-api.md §10.3, §10.7): the Standard Webhooks `v1` HMAC-SHA256
scheme and the reference's legacy header, for the sender and for receivers written in Python.

Pure: callers pass the timestamp. The one exception is `verify_webhook`'s default `now`, read in
`_unix_now` for receivers that do not pass one; the workflow never verifies, so never reads it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, cast

from shared.runs.finished_event import FINISHED_EVENT

WEBHOOK_ID_PREFIX = "wh_"
WHSEC_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_SECONDS = 300

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
LEGACY_SIGNATURE_HEADER = "X-Completion-Signature"

# Unix seconds as the sender writes them: plain ASCII digits, short enough to never overflow a receiver.
_TIMESTAMP = re.compile(r"[0-9]{1,15}")


class RefusalReason(StrEnum):
    """The step of the §10.7 recipe that refused a callback."""

    MISSING_HEADER = "missing_header"
    BAD_TIMESTAMP = "bad_timestamp"
    STALE_TIMESTAMP = "stale_timestamp"
    FUTURE_TIMESTAMP = "future_timestamp"
    BAD_SIGNATURE = "bad_signature"
    BAD_BODY = "bad_body"


class WebhookVerificationError(Exception):
    """A callback that must be refused (answer 400 or 401); `reason` names the failed step."""

    def __init__(self, reason: RefusalReason, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def webhook_id(run_id: str, url: str) -> str:
    """The event's id for one URL: stable across retries and replays, so receivers deduplicate on it."""
    digest = hashlib.sha256(f"{run_id}\n{FINISHED_EVENT}\n{url}".encode()).hexdigest()
    return WEBHOOK_ID_PREFIX + digest[:32]


def signing_keys(secrets: str) -> list[bytes]:
    """The HMAC keys of comma-separated secrets, primary first: `whsec_<base64>` decoded, others UTF-8."""
    return [_key(secret) for secret in _secret_items(secrets)]


def signature_header(keys: list[bytes], webhook_id: str, timestamp: int, body: bytes) -> str:
    """`webhook-signature`: one space-separated `v1,<base64>` item per key."""
    return " ".join(f"{SIGNATURE_VERSION},{_sign(key, webhook_id, str(timestamp), body)}" for key in keys)


def legacy_signature(primary_secret: str, run_id: str) -> str:
    """`X-Completion-Signature`: hex HMAC-SHA256 of the run id keyed with the secret's UTF-8 bytes."""
    return hmac.new(primary_secret.encode(), run_id.encode(), hashlib.sha256).hexdigest()


def signed_headers(
    secrets: str,
    run_id: str,
    url: str,
    timestamp: int,
    body: bytes,
    user_agent: str,
    *,
    webhook_key: str | None = None,
) -> dict[str, str]:
    """Every header of one delivery attempt to `url`, signed at `timestamp` with every secret.

    The `webhook-id` derives from `webhook_key` (the run's workflow id, unique across tenants), else
    from the run id; the legacy signature signs the run id, as the reference does.
    """
    items = _secret_items(secrets)
    if not items:
        msg = "no signing secret: COMPLETION_CALLBACK_SECRET holds no secret"
        raise ValueError(msg)
    event_id = webhook_id(webhook_key or run_id, url)
    return {
        ID_HEADER: event_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature_header([_key(item) for item in items], event_id, timestamp, body),
        LEGACY_SIGNATURE_HEADER: legacy_signature(items[0], run_id),
        "User-Agent": user_agent,
        "Content-Type": "application/json",
    }


def verify_webhook(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: int | None = None,
) -> dict[str, Any]:
    """Check a received callback (§10.7) and return its parsed body, or raise `WebhookVerificationError`.

    `secret` may hold several comma-separated secrets (during a rotation): any one of them signing the
    event is enough. `body` is the raw request body, before any JSON parsing.
    """
    keys = signing_keys(secret)
    if not keys:
        msg = "no secret to verify with"
        raise ValueError(msg)
    lowered = {name.lower(): value for name, value in headers.items()}
    missing = [name for name in (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER) if not lowered.get(name)]
    if missing:
        raise WebhookVerificationError(RefusalReason.MISSING_HEADER, ", ".join(missing))
    event_id, stamp, signatures = lowered[ID_HEADER], lowered[TIMESTAMP_HEADER], lowered[SIGNATURE_HEADER]
    if not _TIMESTAMP.fullmatch(stamp):
        raise WebhookVerificationError(RefusalReason.BAD_TIMESTAMP, f"not Unix seconds: {stamp[:40]!r}")
    skew = (_unix_now() if now is None else now) - int(stamp)
    if skew > tolerance:
        raise WebhookVerificationError(
            RefusalReason.STALE_TIMESTAMP, f"sent {skew} s ago, tolerance {tolerance} s"
        )
    if -skew > tolerance:
        raise WebhookVerificationError(
            RefusalReason.FUTURE_TIMESTAMP, f"sent {-skew} s ahead, tolerance {tolerance} s"
        )
    if not _any_signature_matches(keys, event_id, stamp, body, signatures):
        raise WebhookVerificationError(RefusalReason.BAD_SIGNATURE, "no v1 signature matches a known secret")
    try:
        event = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise WebhookVerificationError(RefusalReason.BAD_BODY, "not JSON") from exc
    if not isinstance(event, dict):
        raise WebhookVerificationError(RefusalReason.BAD_BODY, "not a JSON object")
    return cast("dict[str, Any]", event)


def _any_signature_matches(
    keys: list[bytes], event_id: str, stamp: str, body: bytes, signatures: str
) -> bool:
    expected = [_sign(key, event_id, stamp, body).encode() for key in keys]
    offered = [
        signature.encode()
        for version, _, signature in (item.partition(",") for item in signatures.split())
        if version == SIGNATURE_VERSION
    ]
    # Every pair is compared, in constant time, so the time taken tells nothing about which one matched.
    matches = [hmac.compare_digest(mine, theirs) for mine in expected for theirs in offered]
    return any(matches)


def _sign(key: bytes, event_id: str, stamp: str, body: bytes) -> str:
    signed = f"{event_id}.{stamp}.".encode() + body
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def _secret_items(secrets: str) -> list[str]:
    return [item.strip() for item in secrets.split(",") if item.strip()]


def _key(secret: str) -> bytes:
    if not secret.startswith(WHSEC_PREFIX):
        return secret.encode()
    try:
        key = base64.b64decode(secret.removeprefix(WHSEC_PREFIX), validate=True)
    except binascii.Error as exc:
        msg = f"a {WHSEC_PREFIX} secret must be followed by base64 ({exc})"
        raise ValueError(msg) from exc
    if not key:
        msg = f"a {WHSEC_PREFIX} secret must hold a key after its prefix"
        raise ValueError(msg)
    return key


def _unix_now() -> int:
    """The receiver's clock: the only clock read in `shared/` (never called inside the workflow)."""
    return int(datetime.now(UTC).timestamp())
