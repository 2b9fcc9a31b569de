"""The API documentation pages, `/docs` (Swagger UI) and `/redoc` (ReDoc), with their scripts and styles
served by this service (`openapi_ui_bundles`), so the pages work offline and load nothing from a CDN.

Public, like `/openapi.json`: no credential is needed to read the documentation.
"""

from __future__ import annotations

import functools

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from openapi_ui_bundles import redoc, swagger_ui

SWAGGER_ASSETS = "/docs/assets/swagger-ui"
REDOC_ASSETS = "/docs/assets/redoc"
# ReDoc's script draws its "powered by" logo from Redocly's CDN; the bundle ships the same file.
_REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@functools.cache
def _redoc_script() -> bytes:
    script = (redoc.static_path / "redoc.standalone.js").read_text(encoding="utf-8")
    return script.replace(_REDOC_LOGO, f"{REDOC_ASSETS}/logo-mini.svg").encode("utf-8")


def install_docs(app: FastAPI) -> None:
    """Serve `/docs`, `/redoc` and their assets on `app` (built with `docs_url=None, redoc_url=None`)."""
    openapi_url = app.openapi_url or "/openapi.json"
    title = f"{app.title} API"

    async def swagger_page() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=title,
            swagger_js_url=f"{SWAGGER_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER_ASSETS}/favicon-32x32.png",
            # Swagger UI would otherwise send the document to validator.swagger.io for its badge.
            swagger_ui_parameters={"validatorUrl": None},
        )

    async def redoc_page() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=title,
            redoc_js_url=f"{REDOC_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{SWAGGER_ASSETS}/favicon-32x32.png",
            with_google_fonts=False,
        )

    async def redoc_script() -> Response:
        return Response(_redoc_script(), media_type="text/javascript; charset=utf-8")

    app.add_api_route("/docs", swagger_page, methods=["GET"], include_in_schema=False)
    app.add_api_route("/redoc", redoc_page, methods=["GET"], include_in_schema=False)
    # Before the mount, so this route answers for the one file it rewrites.
    route = f"{REDOC_ASSETS}/redoc.standalone.js"
    app.add_api_route(route, redoc_script, methods=["GET"], include_in_schema=False)
    app.mount(SWAGGER_ASSETS, StaticFiles(directory=swagger_ui.static_path), name="swagger-ui-assets")
    app.mount(REDOC_ASSETS, StaticFiles(directory=redoc.static_path), name="redoc-assets")
