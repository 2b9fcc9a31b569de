"""Callback signatures (http-api.md §10.3, §10.7) against the published Standard Webhooks example, the
spec's legacy example, and the ways a receiver must refuse an event."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest

from shared.callbacks.signing import (
    WebhookVerificationError,
    legacy_signature,
    signature_header,
    signed_headers,
    signing_keys,
    verify_webhook,
    webhook_id,
)

# The Standard Webhooks example (their spec's test vector, also the Svix libraries' `sign` tests).
SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105 -- the published example secret
SW_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SW_TIMESTAMP = 1614265330
SW_BODY = b'{"test": 2432232314}'
SW_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

RUN_ID = "run-cb-ok-0001"
URL = "https://hooks.example.com/run-done?token=abc"
NOW = 1_790_000_000
BODY = json.dumps(
    {"type": "run.finished", "pipeline_run_id": RUN_ID, "state": "COMPLETED", "status": "COMPLETED"},
    separators=(",", ":"),
).encode()
USER_AGENT = "methodflow/0.1.0"


def headers_for(secrets: str, *, body: bytes = BODY, timestamp: int = NOW) -> dict[str, str]:
    return signed_headers(secrets, RUN_ID, URL, timestamp, body, USER_AGENT)


def refusal(secret: str, headers: dict[str, str], body: bytes = BODY, now: int = NOW) -> str:
    with pytest.raises(WebhookVerificationError) as caught:
        verify_webhook(secret, headers, body, now=now)
    return caught.value.reason


def test_the_standard_webhooks_example_signs_to_its_published_signature() -> None:
    # Recomputed here from the recipe's own steps, then by our signer: both must give the published value.
    key = base64.b64decode(SW_SECRET.removeprefix("whsec_"))
    digest = hmac.new(key, f"{SW_ID}.{SW_TIMESTAMP}.".encode() + SW_BODY, hashlib.sha256).digest()
    assert f"v1,{base64.b64encode(digest).decode()}" == SW_SIGNATURE
    assert signing_keys(SW_SECRET) == [key]
    assert signature_header(signing_keys(SW_SECRET), SW_ID, SW_TIMESTAMP, SW_BODY) == SW_SIGNATURE


def test_the_standard_webhooks_example_verifies() -> None:
    headers = {"webhook-id": SW_ID, "webhook-timestamp": str(SW_TIMESTAMP), "webhook-signature": SW_SIGNATURE}
    assert verify_webhook(SW_SECRET, headers, SW_BODY, now=SW_TIMESTAMP) == {"test": 2432232314}


def test_the_legacy_signature_matches_the_spec_example() -> None:
    expected = "33e21c6c2e7b2c2c053b917595c7c3d100e5a7c9e0524f49e5a7832113360128"
    assert legacy_signature("cbsecret", "run-cb-ok-0001") == expected
    assert headers_for("cbsecret,older")["X-Completion-Signature"] == expected


def test_webhook_id_is_the_spec_digest_stable_and_per_url() -> None:
    expected = hashlib.sha256(f"{RUN_ID}\nrun.finished\n{URL}".encode()).hexdigest()[:32]
    assert webhook_id(RUN_ID, URL) == f"wh_{expected}"
    assert webhook_id(RUN_ID, URL) == webhook_id(RUN_ID, URL)
    assert webhook_id(RUN_ID, URL + "&x=1") != webhook_id(RUN_ID, URL)
    assert webhook_id("run-other", URL) != webhook_id(RUN_ID, URL)


def test_signed_headers_carry_every_header_of_the_spec() -> None:
    headers = headers_for("cbsecret")
    assert headers == {
        "webhook-id": webhook_id(RUN_ID, URL),
        "webhook-timestamp": str(NOW),
        "webhook-signature": signature_header([b"cbsecret"], webhook_id(RUN_ID, URL), NOW, BODY),
        "X-Completion-Signature": legacy_signature("cbsecret", RUN_ID),
        "User-Agent": USER_AGENT,
        "Content-Type": "application/json",
    }
    assert verify_webhook("cbsecret", headers, BODY, now=NOW) == json.loads(BODY)


def test_a_fresh_timestamp_gives_a_fresh_signature_under_the_same_id() -> None:
    first, retry = headers_for("cbsecret"), headers_for("cbsecret", timestamp=NOW + 7)
    assert first["webhook-id"] == retry["webhook-id"]
    assert first["webhook-signature"] != retry["webhook-signature"]
    assert verify_webhook("cbsecret", retry, BODY, now=NOW + 7) == json.loads(BODY)


def test_signing_keys_decode_whsec_and_keep_others_as_utf8() -> None:
    assert signing_keys(f" {SW_SECRET} , plain-sécret ,, ") == [
        base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        "plain-sécret".encode(),
    ]
    assert signing_keys(" , ") == []


@pytest.mark.parametrize("secret", ["whsec_not base64!", "whsec_abc", "whsec_"])
def test_a_whsec_secret_without_base64_is_refused_clearly(secret: str) -> None:
    with pytest.raises(ValueError, match="whsec_") as caught:
        signing_keys(f"cbsecret,{secret}")
    assert "cbsecret" not in str(caught.value)  # the message names the rule, never a secret


def test_signing_without_a_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="no signing secret"):
        headers_for(" ")
    with pytest.raises(ValueError, match="no secret"):
        verify_webhook(",", headers_for("cbsecret"), BODY, now=NOW)


def test_rotation_signs_with_both_secrets_and_either_verifies() -> None:
    headers = headers_for(f"{SW_SECRET},old-secret")
    items = headers["webhook-signature"].split(" ")
    assert len(items) == 2
    assert all(item.startswith("v1,") for item in items)
    assert items[0] == signature_header(signing_keys(SW_SECRET), headers["webhook-id"], NOW, BODY)
    assert items[1] == signature_header([b"old-secret"], headers["webhook-id"], NOW, BODY)
    # The legacy header keeps the primary's UTF-8 bytes, even for a whsec_ secret.
    assert headers["X-Completion-Signature"] == legacy_signature(SW_SECRET, RUN_ID)
    for receiver_secret in (SW_SECRET, "old-secret", "unrelated,old-secret"):
        assert verify_webhook(receiver_secret, headers, BODY, now=NOW)["pipeline_run_id"] == RUN_ID
    assert refusal("unrelated", headers) == "bad_signature"


def test_header_names_are_matched_whatever_their_case() -> None:
    headers = {name.upper(): value for name, value in headers_for("cbsecret").items()}
    assert verify_webhook("cbsecret", headers, BODY, now=NOW)["state"] == "COMPLETED"


def test_a_tampered_body_is_refused() -> None:
    tampered = BODY.replace(b"COMPLETED", b"FAILED", 1)
    assert refusal("cbsecret", headers_for("cbsecret"), body=tampered) == "bad_signature"


def test_a_wrong_secret_is_refused() -> None:
    assert refusal("another-secret", headers_for("cbsecret")) == "bad_signature"


@pytest.mark.parametrize(
    "signature",
    ["", "v1,", "v2,{sig}", "{sig}", "v1,AAAA", "v1,{sig}x", "v1,é"],
)
def test_a_malformed_or_foreign_signature_header_is_refused(signature: str) -> None:
    headers = headers_for("cbsecret")
    genuine = headers["webhook-signature"].removeprefix("v1,")
    headers["webhook-signature"] = signature.format(sig=genuine)
    assert refusal("cbsecret", headers) in {"bad_signature", "missing_header"}


def test_a_valid_signature_among_others_is_accepted() -> None:
    headers = headers_for("cbsecret")
    headers["webhook-signature"] = f"v1,bm9wZQ==  v2,xyz {headers['webhook-signature']}"
    assert verify_webhook("cbsecret", headers, BODY, now=NOW)["type"] == "run.finished"


def test_a_signature_for_another_id_or_timestamp_is_refused() -> None:
    headers = headers_for("cbsecret")
    assert refusal("cbsecret", {**headers, "webhook-id": "wh_other"}) == "bad_signature"
    assert refusal("cbsecret", {**headers, "webhook-timestamp": str(NOW - 1)}) == "bad_signature"


@pytest.mark.parametrize(("offset", "reason"), [(301, "stale_timestamp"), (-301, "future_timestamp")])
def test_a_timestamp_outside_the_tolerance_is_refused_either_way(offset: int, reason: str) -> None:
    headers = headers_for("cbsecret", timestamp=NOW - offset)
    assert refusal("cbsecret", headers) == reason
    # At the edge of the window the same event is still accepted, and a wider tolerance takes it.
    edge = NOW - offset + (300 if offset > 0 else -300)
    assert verify_webhook("cbsecret", headers, BODY, now=edge)["state"] == "COMPLETED"
    assert verify_webhook("cbsecret", headers, BODY, tolerance=301, now=NOW)["state"] == "COMPLETED"


def test_the_default_clock_refuses_an_old_event_and_accepts_a_current_one() -> None:
    with pytest.raises(WebhookVerificationError, match="stale_timestamp"):
        verify_webhook("cbsecret", headers_for("cbsecret", timestamp=SW_TIMESTAMP), BODY)
    # Signed a moment ago: well inside the 300 s window of the receiver's own clock.
    current = headers_for("cbsecret", timestamp=int(time.time()))
    assert verify_webhook("cbsecret", current, BODY)["pipeline_run_id"] == RUN_ID


@pytest.mark.parametrize("name", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_or_empty_header_is_refused(name: str) -> None:
    headers = headers_for("cbsecret")
    without = {key: value for key, value in headers.items() if key != name}
    with pytest.raises(WebhookVerificationError, match=name) as caught:
        verify_webhook("cbsecret", without, BODY, now=NOW)
    assert caught.value.reason == "missing_header"
    assert refusal("cbsecret", {**headers, name: ""}) == "missing_header"


@pytest.mark.parametrize("stamp", ["abc", "1.5", "-5", "+5", " 5", "1e9", "²", "9" * 16])
def test_a_timestamp_that_is_not_unix_seconds_is_refused(stamp: str) -> None:
    assert refusal("cbsecret", {**headers_for("cbsecret"), "webhook-timestamp": stamp}) == "bad_timestamp"


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"\xff\xfe"])
def test_a_signed_body_that_is_not_a_json_object_is_refused(body: bytes) -> None:
    assert refusal("cbsecret", headers_for("cbsecret", body=body), body=body) == "bad_body"
