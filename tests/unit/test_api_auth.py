"""Bearer parsing, API-key rotation, JWT checks, identity claims and the auth settings (http-api.md §3b, §14)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from pydantic import SecretStr, ValidationError

from api.auth import (
    SINGLE_TENANT,
    AuthMode,
    Caller,
    api_key_tenant,
    bearer_credential,
    identify,
    jwt_identity,
)
from api.problems import ProblemError
from api.settings import ApiSettings, SettingsError, get_settings
from shared.problems.catalogue import ProblemCode

# 64 bytes: long enough for HS384 too, so PyJWT raises no InsecureKeyLengthWarning (warnings are errors).
SECRET = "s" * 64
LEEWAY = 30


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def forged_token(header: dict[str, Any], claims: dict[str, Any], *, key: str | None = SECRET) -> str:
    """A token with any header, HMAC-SHA256-signed with `key` (unsigned when None): what PyJWT will not build."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    if key is None:
        return f"{signing_input}."
    signature = hmac.new(key.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def sign(claims: dict[str, Any], *, key: str = SECRET, algorithm: str = "HS256") -> str:
    """A token as PyJWT signs it."""
    # PyJWT types its keys with `cryptography` classes, absent here: hence Unknown.
    return jwt.encode(claims, key, algorithm=algorithm)  # pyright: ignore[reportUnknownMemberType]


def hs256(claims: dict[str, Any], *, key: str = SECRET) -> str:
    return sign(claims, key=key)


def identity_of(token: str) -> str:
    return jwt_identity(token, SECRET, leeway_seconds=LEEWAY)


def refusal(token: str) -> ProblemError:
    with pytest.raises(ProblemError) as caught:
        identity_of(token)
    assert caught.value.headers == {"WWW-Authenticate": "Bearer"}
    return caught.value


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


# --- the header -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("BEARER  abc ", "abc"),
        ("Bearer a.b.c", "a.b.c"),
        (None, None),
        ("", None),
        ("Bearer", None),
        ("Bearer   ", None),
        ("abc", None),
        ("Basic dXNlcjpwYXNz", None),
        ("Token abc", None),
        ("Bearerabc", None),
    ],
)
def test_only_a_bearer_credential_is_read(header: str | None, expected: str | None) -> None:
    assert bearer_credential(header) == expected


# --- the caller -------------------------------------------------------------------------------------


def test_single_tenant_caller() -> None:
    caller = Caller(SINGLE_TENANT, AuthMode.NONE)
    assert caller.storage_prefix == "single-tenant"
    assert caller.tenant_key == "single-tenant"
    assert caller.legacy_identity == SINGLE_TENANT
    assert caller.created_by_user_id is None


def test_identified_caller_has_a_hashed_storage_prefix() -> None:
    caller = Caller("alice@example.com", AuthMode.JWT)
    digest = hashlib.sha256(b"alice@example.com").hexdigest()
    assert caller.storage_prefix == f"t_{digest[:32]}"
    assert len(caller.storage_prefix) == 34
    assert caller.created_by_user_id == "alice@example.com"
    assert caller.legacy_identity == "alice@example.com"
    assert Caller("é", AuthMode.JWT).storage_prefix == "t_" + hashlib.sha256("é".encode()).hexdigest()[:32]


def test_tenants_of_different_modes_never_share_a_key() -> None:
    # The same name under two modes is two tenants: a key's tenant "alice" is not the JWT user "alice".
    keys = {
        Caller(SINGLE_TENANT, AuthMode.NONE).tenant_key,
        Caller(SINGLE_TENANT, AuthMode.API_KEY).tenant_key,
        Caller("alice", AuthMode.API_KEY).tenant_key,
        Caller("alice", AuthMode.JWT).tenant_key,
    }
    assert len(keys) == 4
    assert Caller("alice", AuthMode.API_KEY).tenant_key.startswith("k_")
    # Runs from before tenant scoping: plain keys and no auth read the single-tenant ones, a named key
    # tenant has none.
    assert Caller(SINGLE_TENANT, AuthMode.API_KEY).legacy_identity == SINGLE_TENANT
    assert Caller("alice", AuthMode.API_KEY).legacy_identity is None


def test_caller_is_frozen() -> None:
    caller = Caller("alice", AuthMode.JWT)
    with pytest.raises(AttributeError):
        caller.identity = "bob"  # type: ignore[misc] -- the point: it cannot change


# --- API keys ---------------------------------------------------------------------------------------


def test_api_key_matches_any_rotated_key() -> None:
    keys = (("acme", "old-key"), ("acme", "new-key"), ("globex", "g-key"))
    assert api_key_tenant("old-key", keys) == "acme"
    assert api_key_tenant("new-key", keys) == "acme"
    assert api_key_tenant("g-key", keys) == "globex"
    assert api_key_tenant("other", keys) is None
    assert api_key_tenant("old-key ", keys) is None
    assert api_key_tenant("old", keys) is None
    assert api_key_tenant("clé", keys) is None  # non-ASCII is compared as bytes, not a TypeError
    assert api_key_tenant("old-key", ()) is None


# --- JWT --------------------------------------------------------------------------------------------


def test_identity_claims_in_order() -> None:
    assert identity_of(hs256({"user_id": "u1", "email": "e@x", "sub": "s1"})) == "u1"
    assert identity_of(hs256({"email": "e@x", "sub": "s1"})) == "e@x"
    assert identity_of(hs256({"sub": "s1"})) == "s1"
    # Not a non-empty string: the next claim is read.
    assert identity_of(hs256({"user_id": 42, "email": "", "sub": "s1"})) == "s1"
    assert identity_of(hs256({"user_id": "  ", "email": "e@x"})) == "e@x"
    assert identity_of(hs256({"user_id": "x" * 256})) == "x" * 256
    assert identity_of(hs256({"user_id": "u1", "sub": 7})) == "u1"


@pytest.mark.parametrize(
    "claims",
    [
        {},
        {"name": "alice"},
        {"user_id": "", "email": "", "sub": ""},
        {"user_id": None, "sub": 7},
        {"user_id": "x" * 257},
        {"user_id": "ali\nce"},
        {"user_id": "ali\x00ce"},
        {"user_id": "ali\x85ce"},
        {"user_id": "\ud800"},
        {"user_id": "single-tenant"},
        # An unusable first claim does not fall through to a later one.
        {"user_id": "single-tenant", "email": "e@x"},
        {"user_id": "x" * 257, "sub": "s1"},
    ],
)
def test_unusable_identity_is_refused(claims: dict[str, Any]) -> None:
    error = refusal(hs256(claims))
    assert error.code is ProblemCode.AUTH_INVALID_CREDENTIAL
    assert error.status == 401
    assert error.params == {"reason": "identity_claim_unusable"}


def test_bad_signature_is_refused() -> None:
    error = refusal(hs256({"sub": "s1"}, key="k" * 64))
    assert error.code is ProblemCode.AUTH_INVALID_CREDENTIAL
    assert error.params == {}


@pytest.mark.parametrize(
    "token",
    [
        forged_token({"alg": "none", "typ": "JWT"}, {"sub": "s1"}, key=None),
        forged_token({"alg": "None"}, {"sub": "s1"}, key=None),
        forged_token({"typ": "JWT"}, {"sub": "s1"}),
        # Algorithm confusion: an RS256 label over an HMAC of the shared secret.
        forged_token({"alg": "RS256", "typ": "JWT"}, {"sub": "s1"}),
        forged_token({"alg": "ES256"}, {"sub": "s1"}),
        forged_token({"alg": "PS256"}, {"sub": "s1"}),
        forged_token({"alg": ["HS256"]}, {"sub": "s1"}),
        forged_token({"alg": "hs256"}, {"sub": "s1"}),
        sign({"sub": "s1"}, algorithm="HS384"),
        sign({"sub": "s1"}, algorithm="HS512"),
    ],
)
def test_other_algorithms_are_refused(token: str) -> None:
    assert refusal(token).code is ProblemCode.AUTH_INVALID_CREDENTIAL


def test_forged_hs256_header_with_the_right_key_is_accepted() -> None:
    # The helper itself signs like PyJWT: the refusals above are about the algorithm, not the helper.
    assert identity_of(forged_token({"alg": "HS256", "typ": "JWT"}, {"sub": "s1"})) == "s1"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not-a-jwt",
        "a.b.c",
        "a.b",
        f"{_b64(b'[1]')}.{_b64(b'{}')}.",
        forged_token({"alg": "HS256"}, {"sub": "s1"}).rsplit(".", 1)[0],
        # A verified token whose payload is not an object, or whose exp is not a number.
        forged_token({"alg": "HS256"}, ["s1"]),  # type: ignore[arg-type] -- deliberately not an object
        hs256({"sub": "s1", "exp": "tomorrow"}),
    ],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    assert refusal(token).code is ProblemCode.AUTH_INVALID_CREDENTIAL


def test_expiry_with_leeway() -> None:
    now = int(time.time())
    error = refusal(hs256({"sub": "s1", "exp": now - LEEWAY - 60}))
    assert error.code is ProblemCode.AUTH_CREDENTIAL_EXPIRED
    assert error.status == 401
    assert identity_of(hs256({"sub": "s1", "exp": now - 10})) == "s1"
    assert identity_of(hs256({"sub": "s1", "exp": now + 600})) == "s1"
    # With no leeway the same token is expired.
    with pytest.raises(ProblemError) as caught:
        jwt_identity(hs256({"sub": "s1", "exp": now - 10}), SECRET, leeway_seconds=0)
    assert caught.value.code is ProblemCode.AUTH_CREDENTIAL_EXPIRED


def test_not_before_with_leeway() -> None:
    now = int(time.time())
    error = refusal(hs256({"sub": "s1", "nbf": now + LEEWAY + 60}))
    assert error.code is ProblemCode.AUTH_INVALID_CREDENTIAL
    assert identity_of(hs256({"sub": "s1", "nbf": now + 10})) == "s1"
    assert identity_of(hs256({"sub": "s1", "nbf": now - 10})) == "s1"


def test_audience_is_not_checked() -> None:
    # No audience is configured (§14): a token carrying one is judged on everything else.
    assert identity_of(hs256({"sub": "s1", "aud": "authenticated"})) == "s1"


def test_api_keys_may_name_their_tenant() -> None:
    settings = ApiSettings(
        auth_mode=AuthMode.API_KEY, api_key=SecretStr("acme:ka1, acme:ka2 ,globex:kg,plain")
    )
    assert settings.api_keys == (("acme", "ka1"), ("acme", "ka2"), ("globex", "kg"), (SINGLE_TENANT, "plain"))
    assert identify("ka2", settings) == Caller("acme", AuthMode.API_KEY)
    assert identify("kg", settings) == Caller("globex", AuthMode.API_KEY)
    assert identify("plain", settings) == Caller(SINGLE_TENANT, AuthMode.API_KEY)
    assert identify("ka2", settings).created_by_user_id == "acme"


@pytest.mark.parametrize("value", ["acme:", "single-tenant:k", "a b:k", ":k"])
def test_unusable_api_key_entries_stop_the_start(value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ApiSettings(auth_mode=AuthMode.API_KEY, api_key=SecretStr(value))
    assert "API_KEY entry 1" in str(caught.value)


def test_api_keys_is_read_as_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEYS", "acme:k1")
    assert ApiSettings().api_keys == (("acme", "k1"),)


# --- identify: the modes ----------------------------------------------------------------------------


def test_mode_none_accepts_anything() -> None:
    settings = ApiSettings(auth_mode=AuthMode.NONE, api_key=SecretStr("k"))
    for credential in (None, "", "anything", hs256({"sub": "s1"})):
        assert identify(credential, settings) == Caller(SINGLE_TENANT, AuthMode.NONE)


def test_mode_api_key() -> None:
    settings = ApiSettings(auth_mode=AuthMode.API_KEY, api_key=SecretStr(" k1 , k2,,"))
    assert settings.api_keys == ((SINGLE_TENANT, "k1"), (SINGLE_TENANT, "k2"))
    assert identify("k1", settings) == Caller(SINGLE_TENANT, AuthMode.API_KEY)
    assert identify("k2", settings) == Caller(SINGLE_TENANT, AuthMode.API_KEY)
    with pytest.raises(ProblemError) as caught:
        identify("k3", settings)
    assert caught.value.code is ProblemCode.AUTH_INVALID_CREDENTIAL
    with pytest.raises(ProblemError) as caught:
        identify(None, settings)
    assert caught.value.code is ProblemCode.AUTH_MISSING_CREDENTIAL
    assert caught.value.headers == {"WWW-Authenticate": "Bearer"}


def test_mode_jwt() -> None:
    settings = ApiSettings(auth_mode=AuthMode.JWT, jwt_secret_key=SecretStr(SECRET))
    assert identify(hs256({"email": "e@x"}), settings) == Caller("e@x", AuthMode.JWT)
    with pytest.raises(ProblemError) as caught:
        identify(None, settings)
    assert caught.value.code is ProblemCode.AUTH_MISSING_CREDENTIAL


@pytest.mark.parametrize(
    ("settings", "component"),
    [
        (ApiSettings(auth_mode=AuthMode.API_KEY), "API_KEY"),
        (ApiSettings(auth_mode=AuthMode.API_KEY, api_key=SecretStr(" , ")), "API_KEY"),
        (ApiSettings(auth_mode=AuthMode.JWT), "JWT_SECRET_KEY"),
        (ApiSettings(auth_mode=AuthMode.JWT, jwt_secret_key=SecretStr("")), "JWT_SECRET_KEY"),
    ],
)
def test_missing_secret_is_a_misconfiguration_after_the_credential_check(
    settings: ApiSettings, component: str
) -> None:
    with pytest.raises(ProblemError) as caught:
        identify(None, settings)
    assert caught.value.code is ProblemCode.AUTH_MISSING_CREDENTIAL
    with pytest.raises(ProblemError) as caught:
        identify("some-credential", settings)
    assert caught.value.code is ProblemCode.RUNTIME_MISCONFIGURED
    assert caught.value.status == 500
    assert caught.value.params == {"component": component}
    assert caught.value.headers == {}


# --- settings ---------------------------------------------------------------------------------------


def test_auth_settings_defaults() -> None:
    settings = get_settings()
    assert settings.effective_auth_mode is AuthMode.NONE
    assert settings.auth_mode is None
    assert settings.use_jwt is None
    assert settings.api_keys == ()
    assert settings.jwt_secret_key is None
    assert settings.jwt_leeway_seconds == 30


@pytest.mark.parametrize(
    ("env", "mode"),
    [
        ({"AUTH_MODE": "none"}, AuthMode.NONE),
        ({"AUTH_MODE": "API_KEY"}, AuthMode.API_KEY),
        ({"AUTH_MODE": " Jwt "}, AuthMode.JWT),
        ({"AUTH_MODE": ""}, AuthMode.NONE),
        ({"USE_JWT": "true"}, AuthMode.JWT),
        ({"USE_JWT": "1"}, AuthMode.JWT),
        ({"USE_JWT": "false"}, AuthMode.NONE),
        ({"AUTH_MODE": "", "USE_JWT": "true"}, AuthMode.JWT),
        # AUTH_MODE, when set, wins over the legacy flag.
        ({"AUTH_MODE": "api_key", "USE_JWT": "true"}, AuthMode.API_KEY),
        ({"AUTH_MODE": "none", "USE_JWT": "true"}, AuthMode.NONE),
    ],
)
def test_effective_auth_mode(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], mode: AuthMode) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert get_settings().effective_auth_mode is mode


def test_auth_secrets_and_leeway_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEY", "k1,k2")
    monkeypatch.setenv("JWT_SECRET_KEY", "top-secret-value")
    monkeypatch.setenv("JWT_LEEWAY_SECONDS", "5")
    settings = get_settings()
    assert settings.api_keys == ((SINGLE_TENANT, "k1"), (SINGLE_TENANT, "k2"))
    assert settings.jwt_secret_key is not None
    assert settings.jwt_secret_key.get_secret_value() == "top-secret-value"
    assert settings.jwt_leeway_seconds == 5
    # Secrets never show in the settings' text (which start-up errors and logs may print).
    assert "k1" not in repr(settings)
    assert "top-secret-value" not in repr(settings)
    assert "top-secret-value" not in str(settings)


@pytest.mark.parametrize(
    ("variable", "value"),
    [("AUTH_MODE", "oauth"), ("AUTH_MODE", "api-key"), ("USE_JWT", "maybe"), ("JWT_LEEWAY_SECONDS", "-1")],
)
def test_invalid_auth_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        get_settings()


def test_invalid_auth_mode_lists_the_valid_values() -> None:
    with pytest.raises(ValidationError, match=r"AUTH_MODE accepts only none, api_key, jwt"):
        ApiSettings.model_validate({"auth_mode": "oauth"})
