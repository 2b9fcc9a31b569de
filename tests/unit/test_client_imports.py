"""The Python client stands alone: importing `client` loads none of the service's packages nor its
server dependencies, and its webhook verification accepts what the service's signer signs (and refuses
what a receiver must refuse)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from client import WebhookVerificationError, verify_webhook
from shared.callbacks.signing import signed_headers
from tests.helpers.api_server import REPO_ROOT

SERVER_SIDE = ("api", "worker", "shared", "temporalio", "fastapi", "starlette", "uvicorn")

# The Standard Webhooks example (their spec's test vector).
SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105 -- the published example secret
SW_HEADERS = {
    "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
    "webhook-timestamp": "1614265330",
    "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
}
SW_BODY = b'{"test": 2432232314}'

NOW = 1_790_000_000
BODY = json.dumps({"type": "run.finished", "pipeline_run_id": "run-1", "state": "COMPLETED"}).encode()


def test_importing_the_client_loads_nothing_of_the_server() -> None:
    probe = (
        "import sys, client\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {SERVER_SIDE!r}))\n"
        "print(client.MethodflowClient.__name__, client.AsyncMethodflowClient.__name__)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    loaded, names = done.stdout.splitlines()
    assert loaded == "[]"
    assert names == "MethodflowClient AsyncMethodflowClient"


@pytest.mark.parametrize("secret", ["cbsecret", "whsec_c2VjcmV0LWJ5dGVzLWZvci10ZXN0cw=="])
def test_a_callback_signed_by_the_service_verifies_with_the_client(secret: str) -> None:
    headers = signed_headers(secret, "run-1", "https://hooks.example.com/done", NOW, BODY, "methodflow/0.1.0")
    assert verify_webhook(secret, headers, BODY, now=NOW + 10) == json.loads(BODY)
    # During a rotation the receiver holds the new and the old secret: either one verifies.
    assert verify_webhook(f"other-secret,{secret}", headers, BODY, now=NOW)["pipeline_run_id"] == "run-1"


def test_the_standard_webhooks_example_verifies_with_the_client() -> None:
    assert verify_webhook(SW_SECRET, SW_HEADERS, SW_BODY, now=1614265330) == {"test": 2432232314}


def _signed() -> dict[str, str]:
    return signed_headers("cbsecret", "run-1", "https://h.example.com/", NOW, BODY, "methodflow/0.1.0")


@pytest.mark.parametrize(
    ("headers", "now"),
    [
        ({**_signed(), "webhook-signature": "v1,AAAA"}, NOW),  # a signature of something else
        ({**_signed(), "webhook-signature": _signed()["webhook-signature"].replace("v1,", "v2,")}, NOW),
        ({**_signed(), "webhook-timestamp": "17900000x0"}, NOW),  # not Unix seconds
        (_signed(), NOW + 301),  # sent more than five minutes ago
        (_signed(), NOW - 301),  # sent more than five minutes ahead
    ],
    ids=["other-signature", "no-v1-item", "bad-timestamp", "stale", "future"],
)
def test_the_client_refuses_what_a_receiver_must_refuse(headers: dict[str, str], now: int) -> None:
    with pytest.raises(WebhookVerificationError):
        verify_webhook("cbsecret", headers, BODY, now=now)


def test_a_changed_body_a_missing_header_or_another_secret_is_refused() -> None:
    headers = _signed()
    assert verify_webhook("cbsecret", headers, BODY, now=NOW)["state"] == "COMPLETED"
    with pytest.raises(WebhookVerificationError):
        verify_webhook("cbsecret", headers, BODY + b" ", now=NOW)
    with pytest.raises(WebhookVerificationError):
        verify_webhook("cbsecret", {k: v for k, v in headers.items() if k != "webhook-id"}, BODY, now=NOW)
    with pytest.raises(WebhookVerificationError):
        verify_webhook("not-the-secret", headers, BODY, now=NOW)
    with pytest.raises(ValueError, match="whsec_"):
        verify_webhook("whsec_***", headers, BODY, now=NOW)
