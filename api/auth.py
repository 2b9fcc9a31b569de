"""Who is calling (http-api.md §3b): the bearer credential checked per `AUTH_MODE`, and the tenant it names.

Reads the `Authorization` header only; failures are `ProblemError`s, every 401 with `WWW-Authenticate: Bearer`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import jwt
from fastapi import Request

from api.problems import ProblemError
from shared.problems.catalogue import ProblemCode

if TYPE_CHECKING:
    from api.settings import ApiSettings

logger = logging.getLogger(__name__)

SINGLE_TENANT = "single-tenant"
JWT_ALGORITHM = "HS256"
# Claims that may name the caller, first usable one wins (§3b).
IDENTITY_CLAIMS = ("user_id", "email", "sub")
MAX_IDENTITY_CHARS = 256
# Control characters and lone surrogates: neither belongs in a tenant name, and a surrogate cannot
# even be encoded to hash the storage prefix.
_REFUSED_CHAR_CATEGORIES = frozenset({"Cc", "Cs"})
_CHALLENGE = {"WWW-Authenticate": "Bearer"}

# The `detail` of each refusal: what was wrong, never the credential itself nor a secret.
_NO_CREDENTIAL = "The request carries no 'Authorization: Bearer <credential>' header."
_WRONG_KEY = "The bearer key is not one this service accepts."
_UNREADABLE_JWT = "The bearer token is not a readable JWT."
_WRONG_ALGORITHM = f"The bearer token must be signed with {JWT_ALGORITHM}."
_BAD_SIGNATURE = "The bearer token's signature does not verify."
_NOT_YET_VALID = "The bearer token is not valid yet."
_INVALID_JWT = "The bearer token is not a valid JWT."
_EXPIRED = "The bearer token has expired."
_NO_IDENTITY = "The bearer token names no usable identity in 'user_id', 'email' or 'sub'."


class AuthMode(StrEnum):
    """The values of `AUTH_MODE`."""

    NONE = "none"
    API_KEY = "api_key"
    JWT = "jwt"


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated caller: the auth mode that proved it and the identity (tenant) it names.

    Run ids are one namespace per tenant (http-api.md §7): the tenant is the mode and the identity
    together, so a key's tenant, a JWT identity and the unauthenticated caller never share runs.
    """

    identity: str
    mode: AuthMode

    @property
    def is_single_tenant(self) -> bool:
        return self.identity == SINGLE_TENANT

    @property
    def tenant_key(self) -> str:
        """The tenant's segment of workflow ids and storage keys, one per mode and identity.

        `single-tenant` without auth; `t_` + 32 hex chars of SHA-256 of a JWT identity (as before
        tenant-scoped ids, so stored files keep their keys); `k_` + the same of an API key's tenant.
        """
        if self.mode is AuthMode.NONE:
            return SINGLE_TENANT
        letter = "k" if self.mode is AuthMode.API_KEY else "t"
        return f"{letter}_" + hashlib.sha256(self.identity.encode("utf-8")).hexdigest()[:32]

    @property
    def storage_prefix(self) -> str:
        """The tenant's segment of storage keys: its `tenant_key`."""
        return self.tenant_key

    @property
    def legacy_identity(self) -> str | None:
        """The identity runs started before tenant-scoped ids recorded for this caller, if any.

        Those runs were keyed by identity alone: `single-tenant` both without auth and for every API
        key, a JWT's own identity otherwise. They stay readable by the callers that could read them
        then (no auth, plain API keys, the same JWT identity); a named key tenant is new and has none.
        """
        if self.mode is AuthMode.JWT or self.is_single_tenant:
            return self.identity
        return None

    @property
    def created_by_user_id(self) -> str | None:
        """What runs record as their creator: no one in single-tenant mode."""
        return None if self.is_single_tenant else self.identity


def bearer_credential(authorization: str | None) -> str | None:
    """The credential of an `Authorization: Bearer <credential>` value; None for anything else."""
    if authorization is None:
        return None
    scheme, _, credential = authorization.strip().partition(" ")
    credential = credential.strip()
    # The scheme is case-insensitive (RFC 9110 §11.1); a bare key has no scheme and is no credential.
    if scheme.lower() != "bearer" or not credential:
        return None
    return credential


def api_key_tenant(credential: str, keys: Sequence[tuple[str, str]]) -> str | None:
    """The tenant of the `(tenant, key)` pair whose key is `credential`, comparing every key in constant time."""
    given = credential.encode("utf-8")
    found: str | None = None
    for tenant, key in keys:
        # No early exit: the time taken does not tell which key, if any, matched.
        if hmac.compare_digest(given, key.encode("utf-8")) and found is None:
            found = tenant
    return found


def _invalid(detail: str, *, params: Mapping[str, Any] | None = None) -> ProblemError:
    return ProblemError(ProblemCode.AUTH_INVALID_CREDENTIAL, detail, params=params, headers=_CHALLENGE)


def _verified_claims(token: str, secret: str, *, leeway_seconds: int) -> dict[str, Any]:
    try:
        # Checked before verifying: only HS256 is ever accepted, whatever else PyJWT could verify.
        algorithm = jwt.get_unverified_header(token).get("alg")
    except jwt.InvalidTokenError as exc:
        raise _invalid(_UNREADABLE_JWT) from exc
    if algorithm != JWT_ALGORITHM:
        raise _invalid(_WRONG_ALGORITHM)
    try:
        # PyJWT types its keys with `cryptography` classes, absent here (HS256 needs none): hence Unknown.
        return jwt.decode(  # pyright: ignore[reportUnknownMemberType]
            token,
            secret,
            algorithms=[JWT_ALGORITHM],
            leeway=leeway_seconds,
            # No audience is configured (§14), so an `aud` claim cannot be checked; it is not a refusal.
            # `sub` is one identity candidate among three (checked below): a non-string `sub` must not
            # refuse a token whose `user_id` names the caller.
            options={"verify_aud": False, "verify_sub": False},
        )
    except jwt.ExpiredSignatureError as exc:
        raise ProblemError(ProblemCode.AUTH_CREDENTIAL_EXPIRED, _EXPIRED, headers=_CHALLENGE) from exc
    except jwt.ImmatureSignatureError as exc:
        raise _invalid(_NOT_YET_VALID) from exc
    except jwt.InvalidSignatureError as exc:
        raise _invalid(_BAD_SIGNATURE) from exc
    except jwt.InvalidTokenError as exc:
        raise _invalid(_INVALID_JWT) from exc


def _usable_identity(value: str) -> bool:
    return (
        len(value) <= MAX_IDENTITY_CHARS
        and value != SINGLE_TENANT
        and not any(unicodedata.category(char) in _REFUSED_CHAR_CATEGORIES for char in value)
    )


def jwt_identity(token: str, secret: str, *, leeway_seconds: int) -> str:
    """The identity a valid HS256 token names: its first non-empty `user_id`, `email` or `sub` string."""
    claims = _verified_claims(token, secret, leeway_seconds=leeway_seconds)
    found = next(
        (
            value
            for value in (claims.get(name) for name in IDENTITY_CLAIMS)
            if isinstance(value, str) and value.strip()
        ),
        None,
    )
    # The first non-empty claim is the identity: an unusable one does not fall through to the next, so a
    # token always names one tenant or none.
    if found is None or not _usable_identity(found):
        raise _invalid(_NO_IDENTITY, params={"reason": "identity_claim_unusable"})
    return found


def _misconfigured(mode: AuthMode, component: str) -> ProblemError:
    # The operator's fault, not the caller's: say so in the log, never with a secret.
    logger.error("AUTH_MODE=%s but %s is unset: requests are refused with 500", mode.value, component)
    return ProblemError(
        ProblemCode.RUNTIME_MISCONFIGURED,
        f"The service's authentication is not configured: {component} is unset.",
        params={"component": component},
    )


def identify(credential: str | None, settings: ApiSettings) -> Caller:
    """The caller `credential` proves under `settings`' mode; `ProblemError` when it proves none."""
    mode = settings.effective_auth_mode
    if mode is AuthMode.NONE:
        return Caller(SINGLE_TENANT, mode)
    if credential is None:
        raise ProblemError(ProblemCode.AUTH_MISSING_CREDENTIAL, _NO_CREDENTIAL, headers=_CHALLENGE)
    if mode is AuthMode.API_KEY:
        keys = settings.api_keys
        if not keys:
            raise _misconfigured(mode, "API_KEY")
        tenant = api_key_tenant(credential, keys)
        if tenant is None:
            raise _invalid(_WRONG_KEY)
        return Caller(tenant, mode)
    secret = settings.jwt_secret_key.get_secret_value() if settings.jwt_secret_key else ""
    if not secret:
        raise _misconfigured(mode, "JWT_SECRET_KEY")
    return Caller(jwt_identity(credential, secret, leeway_seconds=settings.jwt_leeway_seconds), mode)


async def authenticate(request: Request) -> Caller:
    """FastAPI dependency: the request's caller. Reads headers only, so it runs before the body is read."""
    # The app's own settings, not `get_settings()`: tests build apps with their own.
    settings: ApiSettings = request.app.state.settings
    return identify(bearer_credential(request.headers.get("authorization")), settings)
