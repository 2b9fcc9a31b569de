"""`/docs` and `/redoc` work offline: every script, style and icon they load is served by the service itself."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from pydantic import SecretStr

from api.auth import AuthMode
from api.settings import ApiSettings
from tests.helpers.api_server import asgi_client

# Every URL a page loads: src/href attributes and the document the UI fetches (Swagger UI's
# `url: '/openapi.json'`, ReDoc's `spec-url="/openapi.json"`).
_LOADED = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|\burl:\s*['"]([^'"]+)['"]""")
_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png", ".json": "application/json"}


def loaded_urls(html: str) -> list[str]:
    return [first or second for first, second in _LOADED.findall(html)]


@pytest.mark.parametrize(
    ("page", "script"), [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")]
)
async def test_the_docs_pages_load_only_same_origin_assets(page: str, script: str) -> None:
    # In api_key mode, without a key: the documentation and its assets are public.
    settings = ApiSettings(auth_mode=AuthMode.API_KEY, api_key=SecretStr("k1"))
    async with asgi_client(settings) as client:
        response = await client.get(page)
        assert response.status_code == 200, response.text
        urls = loaded_urls(response.text)
        assert any(url.endswith(script) for url in urls), urls
        assert "openapi.json" in " ".join(urls)
        for url in urls:
            assert url.startswith("/"), f"{page} loads {url} from elsewhere"
            assert not url.startswith("//"), f"{page} loads {url} from elsewhere"
            asset: httpx.Response = await client.get(url)
            assert asset.status_code == 200, (url, asset.status_code)
            suffix = url[url.rfind(".") :]
            assert _TYPES[suffix] in asset.headers["content-type"], (url, asset.headers["content-type"])
        # Nothing else in the page names another host (fonts, validator badge, favicon).
        assert "http://" not in response.text.replace("http://www.w3.org", "")
        assert "https://" not in response.text


async def test_every_reference_of_the_openapi_document_resolves() -> None:
    # ReDoc stops rendering at a reference it cannot follow (a pydantic `#/$defs/...` left in a body).
    async with asgi_client() as client:
        document = (await client.get("/openapi.json")).json()
    references = set(re.findall(r'"\$ref":\s*"([^"]+)"', json.dumps(document)))
    assert references
    for reference in references:
        node = document
        assert reference.startswith("#/"), reference
        for part in reference.removeprefix("#/").split("/"):
            assert part in node, reference
            node = node[part]
