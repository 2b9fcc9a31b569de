"""The web console (issue 17): `/console` serves one static page whose ES modules call this API from the browser.

The files live in `api/console/` and need no build step. They are public, like `/docs`: the page holds no
data, and every API call it makes carries the credential the person types in (kept in the browser's
session storage), so the API routes stay exactly as protected as without the console.
Left out of the OpenAPI document: these are pages, not API operations.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

CONSOLE_DIR = Path(__file__).resolve().parent.parent / "console"
PAGE = "index.html"
# The media types of the files the console ships; a file of another kind is never served.
_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Without a build step the file names carry no hash: the browser revalidates each time (ETag), so an
# upgraded service never runs with yesterday's scripts.
_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
# The page loads nothing but this service's own files; output images may come from anywhere (or data URLs).
_PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data: blob: http: https:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)

router = APIRouter(tags=["console"], include_in_schema=False)


def _file(name: str) -> FileResponse:
    path = CONSOLE_DIR / name
    headers = dict(_HEADERS)
    if name == PAGE:
        headers["Content-Security-Policy"] = _PAGE_POLICY
    return FileResponse(path, media_type=_MEDIA_TYPES[path.suffix], headers=headers)


@router.get("/console")
@router.get("/console/")
async def console_page() -> FileResponse:
    """The console's single page; hash routes (`#/runs`, `#/runs/<id>`, `#/playground`) pick the view."""
    return _file(PAGE)


@router.get("/console/{name}")
async def console_asset(name: str) -> FileResponse:
    """One of the console's own files by name; anything else is the unknown-path 404 every route gives."""
    # Names only, no sub-paths: the path parameter never holds a '/', and a listed suffix is required.
    path = CONSOLE_DIR / name
    unknown = path.suffix not in _MEDIA_TYPES or not path.is_file() or path.resolve().parent != CONSOLE_DIR
    if name.startswith(".") or unknown:
        raise StarletteHTTPException(status_code=404)
    return _file(name)
