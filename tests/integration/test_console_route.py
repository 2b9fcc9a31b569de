"""The web console's files as the API serves them at `/console` (issue 17), read over the app in-process.

The page and its assets are public, like `/docs`; the API routes the page calls still want a credential.
`CONSOLE_ENABLED=false` takes the console away: its paths are then unknown paths.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from pydantic import SecretStr

from api.auth import AuthMode
from api.routes.console import CONSOLE_DIR
from api.settings import ApiSettings
from tests.helpers.api_server import asgi_client, assert_problem

KEY = "console-test-key"
ASSETS = sorted(path.name for path in CONSOLE_DIR.iterdir() if path.suffix in {".js", ".css", ".svg"})


def _api_key_settings() -> ApiSettings:
    return ApiSettings(auth_mode=AuthMode.API_KEY, api_key=SecretStr(KEY))


def _jwt_settings() -> ApiSettings:
    return ApiSettings(auth_mode=AuthMode.JWT, jwt_secret_key=SecretStr("console-test-secret-of-32-bytes!"))


@pytest.mark.parametrize("path", ["/console", "/console/"])
async def test_the_page_is_served_as_html(path: str) -> None:
    async with asgi_client() as client:
        response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert '<script type="module" src="/console/app.js">' in response.text
    # The page loads only this service's files: no CDN script, style or font.
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy
    assert "connect-src 'self'" in policy


async def test_every_file_the_page_and_modules_name_is_served_with_its_type() -> None:
    page = (CONSOLE_DIR / "index.html").read_text(encoding="utf-8")
    named = set(re.findall(r'(?:src|href)="/console/([^"]+)"', page))
    for module in CONSOLE_DIR.glob("*.js"):
        named |= set(re.findall(r'from "\./([^"]+)"', module.read_text(encoding="utf-8")))
    assert {"app.js", "style.css", "api.js", "run_page.js", "runs_page.js", "playground_page.js"} <= named
    assert named <= set(ASSETS), "a file the console names is not in api/console/"
    types = {
        ".js": "text/javascript; charset=utf-8",
        ".css": "text/css; charset=utf-8",
        ".svg": "image/svg+xml",
    }
    async with asgi_client() as client:
        for name in ASSETS:
            response = await client.get(f"/console/{name}")
            assert response.status_code == 200, name
            assert response.headers["content-type"] == types[name[name.rindex(".") :]], name
            assert response.content == (CONSOLE_DIR / name).read_bytes()
            assert response.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize(
    "path",
    [
        "/console/nope.js",
        "/console/README",  # a suffix the console never ships
        "/console/..%2Fmain.py",  # out of the folder, encoded
        "/console/.hidden.js",
        "/console/app.js/more",
    ],
)
async def test_anything_else_under_console_is_an_unknown_path(path: str) -> None:
    async with asgi_client() as client:
        response = await client.get(path)
    assert_problem(response, 404, "request.not_found")


async def test_console_enabled_false_takes_the_console_away(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSOLE_ENABLED", "false")
    settings = ApiSettings()
    assert settings.console_enabled is False
    async with asgi_client(settings) as client:
        for path in ("/console", "/console/", "/console/app.js"):
            document = assert_problem(await client.get(path), 404, "request.not_found")
            assert document["detail"] == f"The path '{path}' does not exist on this service."


@pytest.mark.parametrize("settings", [_api_key_settings, _jwt_settings], ids=["api_key", "jwt"])
async def test_the_console_is_public_while_the_api_still_wants_a_credential(
    settings: Callable[[], ApiSettings],
) -> None:
    async with asgi_client(settings()) as client:
        page = await client.get("/console")
        script = await client.get("/console/api.js")
        runs = await client.get("/v1/runs")
        wrong = await client.get("/v1/runs", headers={"Authorization": "Bearer not-the-key"})
    assert page.status_code == 200
    assert script.status_code == 200
    assert_problem(runs, 401, "auth.missing_credential")
    assert_problem(wrong, 401, "auth.invalid_credential")


async def test_the_console_is_not_in_the_openapi_document() -> None:
    async with asgi_client() as client:
        document = (await client.get("/openapi.json")).json()
    assert not [path for path in document["paths"] if path.startswith("/console")]
