"""`/docs` and `/redoc` render in a real browser that may reach nothing but the service (headless Chromium).

Debian's chromium drives it (`make test` installs it when missing); without it the test fails, never
skips, so a green suite always means the pages rendered.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
from collections.abc import AsyncGenerator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import uvicorn
from playwright.async_api import Route, async_playwright

from api.main import create_app
from api.settings import ApiSettings
from tests.helpers.refusing_address import refusing_address

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def chromium() -> str:
    if CHROMIUM is None:
        pytest.fail(
            "no Chromium binary on PATH: `make test` installs Debian's chromium (apt-get install chromium)"
        )
    return CHROMIUM


@pytest.fixture
async def docs_origin() -> AsyncGenerator[str]:
    """The real app served by uvicorn on a loopback socket bound here (no port chosen in advance)."""
    with refusing_address() as temporal, socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        server = uvicorn.Server(
            uvicorn.Config(create_app(ApiSettings(temporal_address=temporal)), log_level="warning")
        )
        serving = asyncio.create_task(server.serve(sockets=[listening]))
        while not server.started:  # noqa: ASYNC110 -- uvicorn offers a flag, not an event
            await asyncio.sleep(0.01)
        try:
            yield f"http://127.0.0.1:{listening.getsockname()[1]}"
        finally:
            server.should_exit = True
            await serving


@pytest.mark.parametrize(
    ("page", "operation"),
    [("/docs", ".opblock-summary-path"), ("/redoc", "[data-section-id^='operation/']")],
)
async def test_the_docs_render_with_only_the_service_reachable(
    docs_origin: str, chromium: str, page: str, operation: str, tmp_path: Path
) -> None:
    origin_host = urlsplit(docs_origin).netloc
    refused: list[str] = []

    async def only_the_service(route: Route) -> None:
        if urlsplit(route.request.url).netloc == origin_host:
            await route.continue_()
        else:
            refused.append(route.request.url)
            await route.abort()

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium,
            # The machine's network is closed: Chromium's own background traffic would only be refused.
            args=["--no-sandbox", "--disable-background-networking", "--disable-component-update"],
        )
        try:
            browser_page = await browser.new_page()
            await browser_page.route("**/*", only_the_service)
            await browser_page.goto(docs_origin + page)
            await browser_page.wait_for_selector(operation, timeout=60_000)
            paths = await browser_page.locator(operation).count()
            await browser_page.screenshot(path=str(tmp_path / f"{page.strip('/')}.png"), full_page=False)
        finally:
            await browser.close()
    assert paths >= 5, f"{page} rendered {paths} operations"
    assert refused == []
