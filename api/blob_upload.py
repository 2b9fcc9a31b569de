"""Signed upload targets: the URL `POST /v1/blobs/missing` names for each missing blob, and its check on
`PUT /v1/blobs/{sha256}` (the reference's scheme, pipelex-api 0.92.2).

A target is this service's own `PUT /v1/blobs/{sha256}?scope=&expires=&signature=`, the signature being
`hex(HMAC-SHA256(key, "{scope}\\n{sha256}\\n{expires}"))`. Only a caller that passed authentication on
`/v1/blobs/missing` holds one, for one hash, in its own scope, until it expires, so the upload itself needs
no bearer credential. The key is `BLOB_UPLOAD_SIGNING_KEY`, which several instances behind one address must
share; unset, each process draws its own, and its targets die with it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlencode

from api.settings import ApiSettings
from shared.storage.method_blobs import is_scope

SCOPE_PARAM: Final = "scope"
EXPIRES_PARAM: Final = "expires"
SIGNATURE_PARAM: Final = "signature"
# Drawn once per process when no key is configured: a target outlives neither a restart nor the instance.
_PROCESS_KEY: Final = secrets.token_bytes(32)


@dataclass(frozen=True, slots=True)
class UploadSigner:
    """Signs and checks upload targets with one key; targets live `ttl_seconds`."""

    key: bytes
    ttl_seconds: int

    def signature(self, *, scope: str, sha256: str, expires: int) -> str:
        message = f"{scope}\n{sha256}\n{expires}".encode()
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()

    def signed_query(self, *, scope: str, sha256: str, now: int) -> str:
        """The query string of a target for `sha256` in `scope`, valid `ttl_seconds` from `now`."""
        expires = now + self.ttl_seconds
        signature = self.signature(scope=scope, sha256=sha256, expires=expires)
        return urlencode({SCOPE_PARAM: scope, EXPIRES_PARAM: expires, SIGNATURE_PARAM: signature})

    def is_authorized(
        self, *, scope: str | None, sha256: str, expires: str | None, signature: str | None, now: int
    ) -> bool:
        """Whether the query is a target this key signed for `sha256`, not yet expired at `now`.

        Every part is the caller's text: a missing part, an expiry that is not ASCII decimal digits or a
        signature no key could make is no target, never a failure of the check.
        """
        if scope is None or expires is None or signature is None:
            return False
        # Only ever signed for a caller's storage prefix; anything else (`..`, a path) is no target, even
        # signed by a leaked key, rather than a key outside the store.
        if not is_scope(scope):
            return False
        if not expires.isascii() or not expires.isdecimal() or len(expires) > 20:
            return False
        expires_at = int(expires)
        if expires_at < now:
            return False
        expected = self.signature(scope=scope, sha256=sha256, expires=expires_at).encode("ascii")
        # Bytes, not text: `compare_digest` refuses non-ASCII text, which a forged signature may hold.
        return hmac.compare_digest(expected, signature.encode("utf-8", "surrogatepass"))


def upload_signer(settings: ApiSettings) -> UploadSigner:
    """The signer of this process: `BLOB_UPLOAD_SIGNING_KEY`, else the process's own random key."""
    configured = settings.blob_upload_signing_key
    key = configured.get_secret_value().encode("utf-8") if configured is not None else b""
    return UploadSigner(key=key or _PROCESS_KEY, ttl_seconds=settings.blob_upload_url_ttl_seconds)


def upload_url(origin: str, *, sha256: str, query: str) -> str:
    """The target's URL under the service's public `origin` (`api.deps.public_origin`)."""
    return f"{origin}/v1/blobs/{sha256}?{query}"
