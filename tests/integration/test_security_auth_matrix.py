"""Authentication driven by the app's route table (http-api.md §2, §3b): every served route, under every
`AUTH_MODE`, without a credential and with a wrong, an expired, an `alg: none` and a valid one.

The routes are read from the app itself, so a route added later is covered without a change here. A route
is authenticated when `authenticate` is in its dependency tree; any other route must be listed below as
public (the spec's route table) or signed, else the census fails: a new unauthenticated route is a
decision to make here, not an accident.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from api.auth import AuthMode, authenticate
from api.main import create_app
from api.settings import ApiSettings, get_settings
from tests.helpers.api_server import assert_problem
from tests.helpers.refusing_address import refusing_address

SECRET = "matrix-secret-" + "m" * 50
KEY = "matrix-key-2026"
AUTH_VARIABLES = ("AUTH_MODE", "USE_JWT", "API_KEY", "API_KEYS", "JWT_SECRET_KEY", "JWT_LEEWAY_SECONDS")

# The spec's public rows (§2, §3), the interactive docs and the console's static pages.
PUBLIC = frozenset(
    {
        ("GET", "/"),
        ("GET", "/health"),
        ("GET", "/ready"),
        ("GET", "/metrics"),
        ("GET", "/v1/version"),
        ("GET", "/api/v1/pipelex_version"),
        ("GET", "/api/v1/api_version"),
        ("GET", "/openapi.json"),
        ("HEAD", "/openapi.json"),
        ("GET", "/docs"),
        ("GET", "/redoc"),
        ("GET", "/docs/assets/redoc/redoc.standalone.js"),
        ("GET", "/console"),
        ("GET", "/console/"),
        ("GET", "/console/{name}"),
    }
)
# Static file mounts (public) and one file each serves.
PUBLIC_MOUNTS = {"/docs/assets/swagger-ui": "swagger-ui.css", "/docs/assets/redoc": "logo-mini.svg"}
# Authorized by a signed target alone, never by a bearer credential (api/blob_upload.py).
SIGNED = frozenset({("PUT", "/v1/blobs/{sha256}")})
# A plausible value for each path parameter the service names; an unknown one fails the census.
PATH_VALUES = {
    "run_id": "run-matrix-1",
    "delivery_id": "delivery-1",
    "sha256": "0" * 64,
    "name": "index.html",
    "job_id": "0" * 32,
}


class Access:
    PUBLIC = "public"
    SIGNED = "signed"
    AUTHENTICATED = "authenticated"


@dataclass(frozen=True)
class Operation:
    """One method on one concrete path, and how the service guards it."""

    method: str
    template: str
    path: str
    access: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unsigned_token(claims: dict[str, Any]) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}."


def _hs256(claims: dict[str, Any], key: str = SECRET) -> str:
    # PyJWT types its keys with `cryptography` classes, absent here: hence Unknown.
    return jwt.encode(claims, key, algorithm="HS256")  # pyright: ignore[reportUnknownMemberType]


def _settings(mode: AuthMode, temporal_address: str) -> ApiSettings:
    return ApiSettings(
        auth_mode=mode,
        api_key=SecretStr(KEY),
        jwt_secret_key=SecretStr(SECRET),
        temporal_address=temporal_address,
    )


def _credentials(mode: AuthMode) -> dict[str, str | None]:
    """The credentials tried, by name: `None` sends no `Authorization` header."""
    valid = KEY if mode is AuthMode.API_KEY else _hs256({"sub": "matrix-user"})
    return {
        "none": None,
        "wrong": _hs256({"sub": "matrix-user"}, key="another-secret-" + "x" * 50)
        if mode is AuthMode.JWT
        else "not-the-key",
        "expired": _hs256({"sub": "matrix-user", "exp": int(time.time()) - 3600}),
        "alg-none": _unsigned_token({"sub": "matrix-user"}),
        "valid": valid,
    }


def _expected_refusal(mode: AuthMode, credential: str) -> str | None:
    """The code a credential-needing route answers with, or None when it lets the request through."""
    if mode is AuthMode.NONE or credential == "valid":
        return None
    if credential == "none":
        return "auth.missing_credential"
    if credential == "expired" and mode is AuthMode.JWT:
        return "auth.credential_expired"
    return "auth.invalid_credential"


def _calls(dependant: Dependant) -> Iterator[object]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def _concrete(template: str) -> str:
    path = template
    for name, value in PATH_VALUES.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, f"{template}: give its path parameter a plausible value in PATH_VALUES"
    return path


def census(app: FastAPI) -> list[Operation]:
    """Every operation the app serves, classified; fails on a route it does not know how to classify."""
    operations: list[Operation] = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        template = context.path
        assert isinstance(template, str), route
        if isinstance(route, Mount):
            assert template in PUBLIC_MOUNTS, f"unclassified mount {template}: add it to PUBLIC_MOUNTS"
            operations.append(
                Operation("GET", template, f"{template}/{PUBLIC_MOUNTS[template]}", Access.PUBLIC)
            )
            continue
        assert isinstance(route, APIRoute | Route), (
            f"unclassified route type {type(route).__name__} at {template}"
        )
        guarded = isinstance(route, APIRoute) and authenticate in set(_calls(route.dependant))
        for method in sorted(context.methods or ()):
            key = (method, template)
            if key in PUBLIC or key in SIGNED:
                assert not guarded, f"{method} {template} is listed as public but asks for a credential"
                access = Access.PUBLIC if key in PUBLIC else Access.SIGNED
            else:
                assert guarded, (
                    f"{method} {template} asks for no credential and is not listed as public or signed: "
                    "authenticate it, or list it here if the spec makes it public"
                )
                access = Access.AUTHENTICATED
            operations.append(Operation(method, template, _concrete(template), access))
    return operations


@pytest.fixture
def temporal_refusing(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A Temporal address that refuses connections (held by this test), and no stray auth variables."""
    for name in AUTH_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with refusing_address() as address:
        get_settings.cache_clear()
        yield address
    get_settings.cache_clear()


def test_the_census_knows_every_route_of_the_app(temporal_refusing: str) -> None:
    operations = census(create_app(_settings(AuthMode.JWT, temporal_refusing)))
    by_access = {access: {(op.method, op.template) for op in operations if op.access == access} for access in
                 (Access.PUBLIC, Access.SIGNED, Access.AUTHENTICATED)}  # fmt: skip
    # Every listed public or signed route is still served: a stale list would hide a renamed route.
    assert by_access[Access.PUBLIC] >= PUBLIC
    assert by_access[Access.SIGNED] == SIGNED
    # The spec's authenticated rows (a sample of each family) are among the guarded ones.
    for row in [("POST", "/v1/start"), ("GET", "/v1/runs/{run_id}/events"), ("GET", "/api/v1/models"),
                ("POST", "/v1/blobs/missing"), ("POST", "/v1/build/pipeline"), ("POST", "/v1/lint")]:  # fmt: skip
        assert row in by_access[Access.AUTHENTICATED], row


def _request(client: httpx.AsyncClient, operation: Operation, credential: str | None) -> Any:
    headers = {"Authorization": f"Bearer {credential}"} if credential is not None else {}
    if operation.method in {"POST", "PUT"}:
        headers["Content-Type"] = "application/json"
        return client.request(operation.method, operation.path, content=b"{not json", headers=headers)
    return client.request(operation.method, operation.path, headers=headers)


def _assert_not_refused_for_auth(response: httpx.Response, where: str) -> None:
    assert response.status_code != 401, where
    assert "www-authenticate" not in response.headers, where
    assert response.status_code < 500 or response.status_code == 503, (where, response.text[:300])
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json", where


@pytest.mark.parametrize("mode", list(AuthMode), ids=[mode.value for mode in AuthMode])
async def test_every_route_under_every_mode_and_credential(mode: AuthMode, temporal_refusing: str) -> None:
    app = create_app(_settings(mode, temporal_refusing))
    operations = census(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://methodflow.test") as client:
        for credential_name, credential in _credentials(mode).items():
            refusal = _expected_refusal(mode, credential_name)
            for operation in operations:
                where = f"{mode.value} {credential_name}: {operation.method} {operation.path}"
                response = await _request(client, operation, credential)
                if operation.access == Access.AUTHENTICATED and refusal is not None:
                    assert_problem(response, 401, refusal)
                    assert response.headers["www-authenticate"] == "Bearer", where
                elif operation.access == Access.SIGNED:
                    # No signed target: refused whatever bearer credential comes along, never a 401.
                    document = assert_problem(response, 403, "auth.forbidden")
                    assert document["params"] == {"requirement": "signed_upload_target"}, where
                    assert "www-authenticate" not in response.headers, where
                else:
                    _assert_not_refused_for_auth(response, where)
                    if operation.access == Access.PUBLIC:
                        # `/ready` is 503 here (its Temporal refuses): public all the same.
                        expected = 503 if operation.path == "/ready" else 200
                        assert response.status_code == expected, (where, response.text[:300])


async def _plain_endpoint(_: Request) -> Response:
    return Response("ok")


def _add_api_route(app: FastAPI) -> None:
    app.add_api_route("/v1/secret-admin", _plain_endpoint, methods=["GET"])


def _add_starlette_route(app: FastAPI) -> None:
    app.add_route("/raw", _plain_endpoint, methods=["GET"])


@pytest.mark.parametrize(
    "unclassified", [_add_api_route, _add_starlette_route], ids=["api-route", "starlette-route"]
)
def test_a_route_without_a_credential_check_fails_the_census(
    unclassified: Callable[[FastAPI], None], temporal_refusing: str
) -> None:
    app = create_app(_settings(AuthMode.API_KEY, temporal_refusing))
    unclassified(app)
    with pytest.raises(AssertionError, match="asks for no credential and is not listed"):
        census(app)
