"""Signed upload targets: a target authorizes exactly its scope and hash until it expires, under the key
that signed it; every other query, however malformed, is simply not authorized."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qs

import pytest
from pydantic import SecretStr

from api.blob_upload import UploadSigner, upload_signer, upload_url
from api.settings import ApiSettings

SHA = "ab" * 32
OTHER_SHA = "cd" * 32
NOW = 1_800_000_000
SIGNER = UploadSigner(key=b"unit-test-key", ttl_seconds=600)


def _target(signer: UploadSigner = SIGNER, scope: str = "single-tenant", sha256: str = SHA) -> dict[str, str]:
    query = parse_qs(signer.signed_query(scope=scope, sha256=sha256, now=NOW), strict_parsing=True)
    return {name: values[0] for name, values in query.items()}


def _authorized(target: dict[str, str | None], *, sha256: str = SHA, now: int = NOW) -> bool:
    return SIGNER.is_authorized(
        scope=target.get("scope"),
        sha256=sha256,
        expires=target.get("expires"),
        signature=target.get("signature"),
        now=now,
    )


def test_a_target_is_the_documented_hmac_over_scope_hash_and_expiry() -> None:
    target = _target()
    assert target["scope"] == "single-tenant"
    assert target["expires"] == str(NOW + 600)
    message = f"single-tenant\n{SHA}\n{NOW + 600}".encode()
    assert target["signature"] == hmac.new(b"unit-test-key", message, hashlib.sha256).hexdigest()


def test_a_target_authorizes_its_hash_until_it_expires() -> None:
    target = dict[str, str | None](_target())
    assert _authorized(target)
    assert _authorized(target, now=NOW + 600)  # the last second of its life


def test_an_expired_target_is_refused() -> None:
    assert not _authorized(dict[str, str | None](_target()), now=NOW + 601)


def test_a_target_authorizes_no_other_hash() -> None:
    assert not _authorized(dict[str, str | None](_target()), sha256=OTHER_SHA)


def test_a_target_moved_to_another_scope_is_refused() -> None:
    target = dict[str, str | None](_target())
    target["scope"] = "k_" + "0" * 32
    assert not _authorized(target)


def test_a_later_expiry_is_not_covered_by_the_signature() -> None:
    target = dict[str, str | None](_target())
    target["expires"] = str(NOW + 10_000)
    assert not _authorized(target)


@pytest.mark.parametrize(
    "forged",
    [
        "0" * 64,
        "",
        "not hex at all",
        "é" * 64,  # non-ASCII: refused, never an error of the comparison
        "\udcff" * 64,  # a lone surrogate, as a query decoder may hand one over
    ],
)
def test_a_forged_signature_is_refused(forged: str) -> None:
    target = dict[str, str | None](_target())
    target["signature"] = forged
    assert not _authorized(target)


def test_a_signature_of_another_key_is_refused() -> None:
    other = dict[str, str | None](_target(UploadSigner(key=b"another-key", ttl_seconds=600)))
    assert not _authorized(other)


@pytest.mark.parametrize("missing", ["scope", "expires", "signature"])
def test_a_target_missing_a_part_is_refused(missing: str) -> None:
    target = dict[str, str | None](_target())
    target[missing] = None
    assert not _authorized(target)


@pytest.mark.parametrize("expires", ["-1", "+1900000000", " 1900000000", "1.9e9", "١٩٠٠٠٠٠٠٠٠", "9" * 30])
def test_an_expiry_that_is_not_plain_digits_is_refused(expires: str) -> None:
    target = dict[str, str | None](_target())
    target["expires"] = expires
    assert not _authorized(target)


def test_the_configured_key_signs_alike_in_every_process() -> None:
    settings = ApiSettings(blob_upload_signing_key=SecretStr("shared-key"), blob_upload_url_ttl_seconds=90)
    signer = upload_signer(settings)
    assert signer == UploadSigner(key=b"shared-key", ttl_seconds=90)


def test_without_a_key_the_process_draws_one_it_keeps() -> None:
    first, second = (
        upload_signer(ApiSettings()),
        upload_signer(ApiSettings(blob_upload_signing_key=SecretStr(""))),
    )
    assert len(first.key) == 32
    assert first.key == second.key
    assert first.ttl_seconds == 3600


def test_the_url_is_the_upload_route_under_the_origin() -> None:
    query = SIGNER.signed_query(scope="single-tenant", sha256=SHA, now=NOW)
    assert upload_url("https://runner.example.com", sha256=SHA, query=query) == (
        f"https://runner.example.com/v1/blobs/{SHA}?{query}"
    )
