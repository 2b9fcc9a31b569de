"""Authentication through the real app (http-api.md §3b, §13, §14): modes, refusals, tenancy, public routes.

Every 401 must carry `WWW-Authenticate: Bearer`; every refusal is a problem document without null members.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import jwt
import pytest
from pydantic import SecretStr

from api.auth import AuthMode
from api.deps import CallerDep
from api.main import create_app
from api.settings import ApiSettings, SettingsError, get_settings
from shared.runs.connection import DEFAULT_ADDRESS
from tests.helpers.api_server import REPO_ROOT, assert_problem
from tests.helpers.refusing_address import refusing_address

SECRET = "integration-secret-" + "x" * 45  # 64 bytes: no InsecureKeyLengthWarning, even for HS384
KEYS = ("key-2024-old", "key-2025-new")
AUTH_VARIABLES = ("AUTH_MODE", "USE_JWT", "API_KEY", "JWT_SECRET_KEY", "JWT_LEEWAY_SECONDS")
PUBLIC_PATHS = (
    "/",
    "/health",
    "/ready",
    "/v1/version",
    "/api/v1/pipelex_version",
    "/api/v1/api_version",
    "/openapi.json",
    "/docs",
)
# The blob upload is authorized by its signed target, never by a credential (test_blob_routes.py).
SIGNED_PATHS = ("/v1/blobs/{sha256}",)
# Every authenticated path the service serves today; the route census below finds any newcomer.
VALIDATE_PATHS = ("/v1/validate", "/api/v1/pipeline/validate", "/api/v1/validate")
WHOAMI = "/v1/test-whoami"

GREET = """domain = "greetings"
main_pipe = "greet"
[pipe.greet]
type = "PipeCompose"
description = "Greets someone"
inputs = { name = "Text" }
output = "Text"
template = "Hello, $name!"
"""
VALIDATE_BODY = {"mthds_contents": [GREET]}


@pytest.fixture(autouse=True)
def clean_auth_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Yields the Temporal address every app here gets: one that refuses connections, held by this test."""
    # Settings read the process environment: a stray AUTH_MODE in the shell must not decide these tests.
    for name in AUTH_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    # Without an address the SDK's default 127.0.0.1:7233 is used, where a developer's Temporal may well
    # answer (then `/ready` is 200): these apps must find nothing, whatever runs on the machine.
    with refusing_address() as address:
        monkeypatch.setenv("TEMPORAL_ADDRESS", address)
        get_settings.cache_clear()
        yield address
    get_settings.cache_clear()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def forged_token(header: dict[str, Any], claims: dict[str, Any], *, key: str | None = SECRET) -> str:
    """A token with any header, HMAC-SHA256-signed with `key` (unsigned when None)."""
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


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def api_key_settings(api_key: str | None = ",".join(KEYS)) -> ApiSettings:
    return ApiSettings(
        auth_mode=AuthMode.API_KEY, api_key=SecretStr(api_key) if api_key is not None else None
    )


def jwt_settings(secret: str | None = SECRET, *, leeway: int = 30) -> ApiSettings:
    return ApiSettings(
        auth_mode=AuthMode.JWT,
        jwt_secret_key=SecretStr(secret) if secret is not None else None,
        jwt_leeway_seconds=leeway,
    )


@asynccontextmanager
async def auth_client(settings: ApiSettings | None = None) -> AsyncGenerator[httpx.AsyncClient]:
    """The real app plus one probe route that answers with the caller it was given."""
    app = create_app(settings)

    async def whoami(caller: CallerDep) -> dict[str, str | None]:
        return {
            "identity": caller.identity,
            "storage_prefix": caller.storage_prefix,
            "created_by_user_id": caller.created_by_user_id,
        }

    app.add_api_route(WHOAMI, whoami, methods=["GET"])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://methodflow.test") as client:
        yield client


def assert_unauthorized(response: httpx.Response, code: str) -> dict[str, Any]:
    document = assert_problem(response, 401, code)
    assert response.headers["www-authenticate"] == "Bearer"
    return document


# --- public and protected routes --------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings",
    [api_key_settings, jwt_settings, lambda: api_key_settings(None)],
    ids=["api_key", "jwt", "unset"],
)
async def test_public_routes_need_no_credential(settings: Callable[[], ApiSettings]) -> None:
    async with auth_client(settings()) as client:
        for path in PUBLIC_PATHS:
            response = await client.get(path)
            # `/ready` answers 503 here (its Temporal address refuses): public all the same, never a 401.
            assert response.status_code == (503 if path == "/ready" else 200), (path, response.text)
            assert "www-authenticate" not in response.headers


@pytest.mark.parametrize(
    "settings",
    [api_key_settings, jwt_settings, lambda: api_key_settings(None), lambda: None],
    ids=["api_key", "jwt", "unset", "from-the-environment"],
)
def test_apps_here_never_reach_for_the_sdk_default_address(
    settings: Callable[[], ApiSettings | None], clean_auth_environment: str
) -> None:
    # The guard of the `/ready` check above: its 503 must come from an address this test holds.
    app = create_app(settings())
    assert app.state.temporal.address == clean_auth_environment != DEFAULT_ADDRESS


async def test_every_other_route_is_authenticated_before_its_body_is_read() -> None:
    app = create_app(api_key_settings())
    # The OpenAPI document lists every operation, whichever router serves it.
    operations: dict[str, dict[str, object]] = app.openapi()["paths"]
    routes = [
        (method.upper(), path)
        for path, by_method in operations.items()
        if path not in PUBLIC_PATHS and path not in SIGNED_PATHS
        for method in sorted(by_method)
    ]
    assert {path for _, path in routes} >= set(VALIDATE_PATHS)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://methodflow.test") as client:
        for method, template in routes:
            path = template.replace("{", "").replace("}", "")  # any value fits a path parameter
            for headers in ({}, bearer("wrong-key")):
                response = await client.request(method, path, content=b"{not json", headers=headers)
                code = "auth.invalid_credential" if headers else "auth.missing_credential"
                assert_unauthorized(response, code)


# --- mode none --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, bearer("anything"), bearer(hs256({"sub": "s1"})), {"Authorization": "Basic dXNlcjpwYXNz"}],
)
async def test_mode_none_accepts_any_request_as_single_tenant(headers: dict[str, str]) -> None:
    async with auth_client(ApiSettings(auth_mode=AuthMode.NONE)) as client:
        response = await client.post("/v1/validate", json=VALIDATE_BODY, headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["is_valid"] is True
        caller = (await client.get(WHOAMI, headers=headers)).json()
        assert caller == {
            "identity": "single-tenant",
            "storage_prefix": "single-tenant",
            "created_by_user_id": None,
        }


async def test_default_mode_is_none() -> None:
    async with auth_client() as client:
        assert (await client.post("/v1/validate", json=VALIDATE_BODY)).status_code == 200


# --- mode api_key -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": f"Basic {base64.b64encode(f'user:{KEYS[0]}'.encode()).decode()}"},
        {"Authorization": KEYS[0]},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer   "},
        {"X-API-Key": KEYS[0]},
    ],
    ids=["missing", "basic", "bare-key", "empty-bearer", "blank-bearer", "x-api-key"],
)
async def test_no_bearer_credential_is_a_missing_credential(headers: dict[str, str]) -> None:
    async with auth_client(api_key_settings()) as client:
        for path in VALIDATE_PATHS:
            response = await client.post(path, json=VALIDATE_BODY, headers=headers)
            document = assert_unauthorized(response, "auth.missing_credential")
            assert document["next_step"]["kind"] == "check_credentials"


@pytest.mark.parametrize("key", KEYS)
async def test_each_rotated_key_is_accepted(key: str) -> None:
    async with auth_client(api_key_settings()) as client:
        for path in VALIDATE_PATHS:
            response = await client.post(path, json=VALIDATE_BODY, headers=bearer(key))
            assert response.status_code == 200, response.text
            assert response.json()["is_valid"] is True
        # The scheme is case-insensitive.
        response = await client.get(WHOAMI, headers={"Authorization": f"bearer {key}"})
        assert response.json()["identity"] == "single-tenant"


@pytest.mark.parametrize(
    "credential", ["wrong-key", KEYS[0] + "x", KEYS[0][:-1], ",".join(KEYS), "clé", "\x00" + KEYS[0]]
)
async def test_wrong_key_is_an_invalid_credential(credential: str) -> None:
    # Sent as UTF-8 bytes: non-ASCII header values reach the app (as latin-1 text) and must not break it.
    headers = {b"Authorization": f"Bearer {credential}".encode()}
    async with auth_client(api_key_settings()) as client:
        response = await client.post("/v1/validate", json=VALIDATE_BODY, headers=headers)
        document = assert_unauthorized(response, "auth.invalid_credential")
        assert "params" not in document
        assert KEYS[0] not in response.text


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b"[1, 2]", b'{"mthds_contents": 3}'])
async def test_bad_key_on_a_bad_body_is_401_not_422(body: bytes) -> None:
    async with auth_client(api_key_settings()) as client:
        refused = await client.post("/v1/validate", content=body, headers=bearer("wrong-key"))
        assert_unauthorized(refused, "auth.invalid_credential")
        missing = await client.post("/v1/validate", content=body)
        assert_unauthorized(missing, "auth.missing_credential")
        # With the right key the same body reaches the handler, which refuses it.
        accepted = await client.post("/v1/validate", content=body, headers=bearer(KEYS[1]))
        assert accepted.status_code == 422


@pytest.mark.parametrize("api_key", [None, "", " , "])
async def test_api_key_unset_is_a_misconfiguration(api_key: str | None) -> None:
    async with auth_client(api_key_settings(api_key)) as client:
        response = await client.post("/v1/validate", json=VALIDATE_BODY, headers=bearer("some-key"))
        document = assert_problem(response, 500, "runtime.misconfigured")
        assert document["params"] == {"component": "API_KEY"}
        assert "www-authenticate" not in response.headers
        # "No credential" is checked first.
        assert_unauthorized(await client.post("/v1/validate", json=VALIDATE_BODY), "auth.missing_credential")


# --- mode jwt ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claims", "identity"),
    [
        ({"user_id": "u-1", "email": "a@example.com", "sub": "s-1"}, "u-1"),
        ({"email": "a@example.com", "sub": "s-1"}, "a@example.com"),
        ({"sub": "s-1"}, "s-1"),
        ({"user_id": "", "email": "a@example.com"}, "a@example.com"),
    ],
)
async def test_jwt_identity_comes_from_user_id_then_email_then_sub(
    claims: dict[str, Any], identity: str
) -> None:
    async with auth_client(jwt_settings()) as client:
        caller = (await client.get(WHOAMI, headers=bearer(hs256(claims)))).json()
        assert caller == {
            "identity": identity,
            "storage_prefix": "t_" + hashlib.sha256(identity.encode()).hexdigest()[:32],
            "created_by_user_id": identity,
        }
        response = await client.post("/v1/validate", json=VALIDATE_BODY, headers=bearer(hs256(claims)))
        assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "token",
    [
        hs256({"sub": "s-1"}, key="another-secret-" + "y" * 49),
        forged_token({"alg": "none", "typ": "JWT"}, {"sub": "s-1"}, key=None),
        sign({"sub": "s-1"}, algorithm="HS384"),
        forged_token({"alg": "RS256", "typ": "JWT"}, {"sub": "s-1"}),
        forged_token({"alg": "ES256", "typ": "JWT"}, {"sub": "s-1"}),
        "not.a.jwt",
        KEYS[0],
    ],
    ids=["bad-signature", "alg-none", "hs384", "rs256-label", "es256-label", "malformed", "api-key"],
)
async def test_refused_tokens_are_invalid_credentials(token: str) -> None:
    async with auth_client(jwt_settings()) as client:
        answers = [
            await client.post(path, json=VALIDATE_BODY, headers=bearer(token)) for path in VALIDATE_PATHS
        ]
        answers.append(await client.get(WHOAMI, headers=bearer(token)))
        for response in answers:
            document = assert_unauthorized(response, "auth.invalid_credential")
            assert "params" not in document


async def test_expired_token_asks_for_a_refresh() -> None:
    token = hs256({"sub": "s-1", "exp": int(time.time()) - 120})
    async with auth_client(jwt_settings()) as client:
        response = await client.post("/v1/validate", json=VALIDATE_BODY, headers=bearer(token))
        document = assert_unauthorized(response, "auth.credential_expired")
        assert document["next_step"]["kind"] == "refresh"
        assert document["domain"] == "account"


async def test_expiry_within_the_leeway_is_accepted() -> None:
    token = hs256({"sub": "s-1", "exp": int(time.time()) - 10})
    async with auth_client(jwt_settings(leeway=30)) as client:
        response = await client.post("/v1/validate", json=VALIDATE_BODY, headers=bearer(token))
        assert response.status_code == 200, response.text
    async with auth_client(jwt_settings(leeway=0)) as client:
        response = await client.post("/v1/validate", json=VALIDATE_BODY, headers=bearer(token))
        assert_unauthorized(response, "auth.credential_expired")


async def test_not_before_in_the_future_is_refused() -> None:
    later = hs256({"sub": "s-1", "nbf": int(time.time()) + 600})
    soon = hs256({"sub": "s-1", "nbf": int(time.time()) + 10})
    async with auth_client(jwt_settings()) as client:
        response = await client.post("/v1/validate", json=VALIDATE_BODY, headers=bearer(later))
        assert_unauthorized(response, "auth.invalid_credential")
        response = await client.post("/v1/validate", json=VALIDATE_BODY, headers=bearer(soon))
        assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "claims",
    [
        {"name": "alice"},
        {"user_id": "", "email": "", "sub": ""},
        {"user_id": 42},
        {"user_id": "x" * 257},
        {"email": "alice\r\n@example.com"},
        {"user_id": "single-tenant"},
        {"sub": "single-tenant"},
    ],
    ids=["none", "empty", "not-a-string", "too-long", "control-chars", "reserved", "reserved-sub"],
)
async def test_token_without_a_usable_identity_is_refused(claims: dict[str, Any]) -> None:
    async with auth_client(jwt_settings()) as client:
        response = await client.post("/v1/validate", json=VALIDATE_BODY, headers=bearer(hs256(claims)))
        document = assert_unauthorized(response, "auth.invalid_credential")
        assert document["params"] == {"reason": "identity_claim_unusable"}


@pytest.mark.parametrize("secret", [None, ""])
async def test_jwt_secret_unset_is_a_misconfiguration(secret: str | None) -> None:
    async with auth_client(jwt_settings(secret)) as client:
        response = await client.post("/v1/validate", json=VALIDATE_BODY, headers=bearer(hs256({"sub": "s"})))
        document = assert_problem(response, 500, "runtime.misconfigured")
        assert document["params"] == {"component": "JWT_SECRET_KEY"}
        assert document["domain"] == "operator"
        assert_unauthorized(await client.post("/v1/validate", json=VALIDATE_BODY), "auth.missing_credential")


# --- configuration from the environment ---------------------------------------------------------------


async def test_legacy_use_jwt_selects_jwt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USE_JWT", "true")
    monkeypatch.setenv("JWT_SECRET_KEY", SECRET)
    async with auth_client() as client:
        assert_unauthorized(await client.get(WHOAMI), "auth.missing_credential")
        caller = (await client.get(WHOAMI, headers=bearer(hs256({"email": "a@example.com"})))).json()
        assert caller["identity"] == "a@example.com"
    # Constructed directly, too; and AUTH_MODE, when set, wins over the legacy flag.
    assert ApiSettings(use_jwt=True).effective_auth_mode is AuthMode.JWT
    assert ApiSettings(use_jwt=True, auth_mode=AuthMode.NONE).effective_auth_mode is AuthMode.NONE


async def test_auth_mode_from_the_environment_is_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_MODE", "API_Key")
    monkeypatch.setenv("API_KEY", ",".join(KEYS))
    async with auth_client() as client:
        assert_unauthorized(await client.get(WHOAMI, headers=bearer("nope")), "auth.invalid_credential")
        assert (await client.get(WHOAMI, headers=bearer(KEYS[0]))).status_code == 200


def test_invalid_auth_mode_stops_create_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_MODE", "oauth")
    with pytest.raises(SettingsError, match=r"AUTH_MODE.*none, api_key, jwt"):
        create_app()


def test_invalid_auth_mode_stops_the_process() -> None:
    command = [sys.executable, "-m", "uvicorn", "api.main:create_app", "--factory", "--port", "0"]
    env = {name: value for name, value in os.environ.items() if name not in AUTH_VARIABLES}
    finished = subprocess.run(
        command,
        cwd=REPO_ROOT,
        env={**env, "AUTH_MODE": "bearer", "API_KEY": "do-not-print-me"},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode != 0
    stderr = finished.stderr.decode(errors="replace")
    assert "AUTH_MODE" in stderr
    assert "none, api_key, jwt" in stderr
    assert "do-not-print-me" not in stderr
