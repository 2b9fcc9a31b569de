"""Verifying a completion callback as its receiver (http-api.md §10.3, §10.7): Standard Webhooks `v1`,
HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}`, base64. Written here rather than imported
from the service's `shared/`, so that a receiver needs only this package.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from typing import Any, cast

DEFAULT_TOLERANCE_SECONDS = 300
_WHSEC = "whsec_"
_TIMESTAMP = re.compile(r"[0-9]{1,15}")


class WebhookVerificationError(Exception):
    """A callback to refuse (answer 400 or 401): missing headers, a stale or future timestamp, no
    matching signature, or a body that is no JSON object."""


def verify_webhook(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: int | None = None,
) -> dict[str, Any]:
    """Check a received callback and return its event; raise `WebhookVerificationError` otherwise.

    `body` is the raw request body, before any JSON parsing. `secret` may hold several comma-separated
    secrets (during a rotation): one of them having signed the event is enough. A `whsec_<base64>`
    secret signs with its decoded bytes, any other with its UTF-8 bytes.
    """
    keys = [_key(item.strip()) for item in secret.split(",") if item.strip()]
    if not keys:
        msg = "no secret to verify with"
        raise ValueError(msg)
    lowered = {name.lower(): value for name, value in headers.items()}
    event_id = lowered.get("webhook-id", "")
    stamp = lowered.get("webhook-timestamp", "")
    signatures = lowered.get("webhook-signature", "")
    if not (event_id and stamp and signatures):
        msg = "a webhook-id, webhook-timestamp or webhook-signature header is missing"
        raise WebhookVerificationError(msg)
    if not _TIMESTAMP.fullmatch(stamp):
        msg = f"webhook-timestamp is not Unix seconds: {stamp[:40]!r}"
        raise WebhookVerificationError(msg)
    skew = (int(time.time()) if now is None else now) - int(stamp)
    if abs(skew) > tolerance:
        msg = f"webhook-timestamp is {skew} s away from now, beyond {tolerance} s"
        raise WebhookVerificationError(msg)
    signed = f"{event_id}.{stamp}.".encode() + body
    expected = [base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()) for key in keys]
    offered = [
        signature.encode()
        for version, _, signature in (item.partition(",") for item in signatures.split())
        if version == "v1"
    ]
    # Every pair is compared in constant time, so the time taken tells nothing about which one matched.
    if not any([hmac.compare_digest(mine, theirs) for mine in expected for theirs in offered]):  # noqa: C419 -- a list: no short cut
        msg = "no v1 signature matches the secret"
        raise WebhookVerificationError(msg)
    try:
        event = json.loads(body)
    except ValueError as exc:
        msg = "the body is not JSON"
        raise WebhookVerificationError(msg) from exc
    if not isinstance(event, dict):
        msg = "the body is not a JSON object"
        raise WebhookVerificationError(msg)
    return cast("dict[str, Any]", event)


def _key(secret: str) -> bytes:
    if not secret.startswith(_WHSEC):
        return secret.encode()
    try:
        key = base64.b64decode(secret.removeprefix(_WHSEC), validate=True)
    except binascii.Error as exc:
        msg = f"a {_WHSEC} secret must be followed by base64 ({exc})"
        raise ValueError(msg) from exc
    if not key:
        msg = f"a {_WHSEC} secret must hold a key after its prefix"
        raise ValueError(msg)
    return key
