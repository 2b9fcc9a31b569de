"""The web console in headless Chromium (Playwright) against a real API, worker and Temporal (issue 17).

The page may reach nothing but the service. One test follows a person's way through it: the runs list,
a bundle pasted in the playground, validated, its inputs template filled and started, then the run page's
pipe tree reaching COMPLETED with the output shown. Another signs in with an API key.

Screenshots of the three pages go to `tmp_path`, or to the folder `CONSOLE_SCREENSHOTS` names
(`CONSOLE_SCREENSHOTS=docs` refreshes the README's images), so a test run leaves the tree clean.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import uuid
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Page, Route, async_playwright, expect
from pydantic import SecretStr

from api.auth import AuthMode
from tests.helpers import run_functions
from tests.helpers.api_server import REPO_ROOT
from tests.helpers.function_bundles import batch_bundle, chain_bundle
from tests.helpers.run_stack import RunStack, run_stack

HELLO = (REPO_ROOT / "docs" / "examples" / "hello.mthds").read_text(encoding="utf-8")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
KEY = "console-browser-key"
RUNS_KEY = f"console-runs-{uuid.uuid4().hex}"
# A browser step waits this long at most (ms); the whole file stays far below it.
STEP_MS = 20_000


@pytest.fixture
def chromium() -> str:
    if CHROMIUM is None:
        pytest.fail(
            "no Chromium binary on PATH: `make test` installs Debian's chromium (apt-get install chromium)"
        )
    return CHROMIUM


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    chosen = os.environ.get("CONSOLE_SCREENSHOTS")
    return (REPO_ROOT / chosen) if chosen else tmp_path


@dataclass
class Browsing:
    page: Page
    origin: str
    refused: list[str] = field(default_factory=list[str])


@asynccontextmanager
async def console_browser(chromium: str, origin: str) -> AsyncGenerator[Browsing]:
    """A fresh Chromium page that may reach `origin` only; every other request is refused and noted."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium,
            # The machine's network is closed: Chromium's own background traffic would only be refused.
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
            ],
        )
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 860})
            browsing = Browsing(page, origin)
            origin_host = urlsplit(origin).netloc

            async def only_the_service(route: Route) -> None:
                if urlsplit(route.request.url).netloc == origin_host:
                    await route.continue_()
                else:
                    browsing.refused.append(route.request.url)
                    await route.abort()

            await page.route("**/*", only_the_service)
            expect.set_options(timeout=STEP_MS)
            yield browsing
        finally:
            await browser.close()


async def _run(stack: RunStack, body: dict[str, Any], headers: dict[str, str] | None = None) -> str:
    response = await stack.client.post("/v1/start", json=body, headers=headers)
    assert response.status_code == 202, response.text
    run_id: str = response.json()["pipeline_run_id"]
    return run_id


async def _listed(stack: RunStack, run_ids: set[str], headers: dict[str, str] | None = None) -> None:
    """Wait until the run list (Temporal visibility, which lags a little) holds every one of `run_ids`."""
    for _ in range(200):
        page = (await stack.client.get("/v1/runs", params={"limit": 100}, headers=headers)).json()
        if run_ids <= {item["pipeline_run_id"] for item in page["items"]}:
            return
        await asyncio.sleep(0.1)
    msg = f"runs {run_ids} never listed"
    raise AssertionError(msg)


async def _seed_runs(stack: RunStack) -> set[str]:
    """A few ended runs of every colour for the runs page: completed, a batch, failed and cancelled."""
    completed = [
        await _run(stack, {"mthds_contents": [HELLO], "inputs": {"name": name}}) for name in ("Ada", "Grace")
    ]
    batch = await _run(
        stack,
        {
            "mthds_contents": [batch_bundle(run_functions.COUNTED, "echoes")],
            "inputs": {"items": ["a", "b", "c"]},
        },
    )
    failed = await _run(
        stack, {"mthds_contents": [chain_bundle(run_functions.FAILING, 1, "fails")], "inputs": {"name": "x"}}
    )
    slow = await _run(
        stack, {"mthds_contents": [chain_bundle(run_functions.SLOW, 3, "slow")], "inputs": {"name": "y"}}
    )
    cancel = await stack.client.post(f"/v1/runs/{slow}/cancel", json={})
    assert cancel.status_code == 202, cancel.text
    seeded = {*completed, batch, failed, slow}
    ends = {run_id: (await stack.wait_for_end(run_id))["state"] for run_id in seeded}
    assert ends == {
        completed[0]: "COMPLETED",
        completed[1]: "COMPLETED",
        batch: "COMPLETED",
        failed: "FAILED",
        slow: "CANCELLED",
    }
    await _listed(stack, seeded)
    return seeded


@pytest.mark.timeout(90)
async def test_a_bundle_started_from_the_playground_completes_on_its_run_page(
    temporal_address: str, tmp_path: Path, chromium: str, screenshots: Path
) -> None:
    # A tenant of its own: the session's other tests run on the same Temporal, and the runs page lists
    # every run of its caller. The console holds the key as a signed-in tab does (session storage).
    overrides = {"auth_mode": AuthMode.API_KEY, "api_key": SecretStr(f"console-runs:{RUNS_KEY}")}
    async with run_stack(temporal_address, tmp_path, api_overrides=overrides) as stack:
        stack.client.headers["Authorization"] = f"Bearer {RUNS_KEY}"
        seeded = await _seed_runs(stack)
        async with console_browser(chromium, stack.base_url) as browsing:
            page = browsing.page
            await page.add_init_script(
                f"sessionStorage.setItem('methodflow.credential', {json.dumps(RUNS_KEY)})"
            )
            await page.goto(f"{stack.base_url}/console")
            rows = page.locator("table.runs tbody tr[data-run-id]")
            await expect(rows).to_have_count(len(seeded))
            await expect(page.locator("tr", has_text="FAILED")).to_have_count(1)
            await expect(page.locator("tr", has_text="CANCELLED")).to_have_count(1)
            # The cost column is read for ended runs; offline steps price nothing.
            await expect(page.locator("td.cost", has_text="—")).to_have_count(len(seeded))
            await page.screenshot(path=str(screenshots / "console-runs.png"))

            # The state filter narrows the list (a hash route, so the URL keeps it).
            await page.select_option("#filter-state", "FAILED")
            await expect(rows).to_have_count(1)
            assert page.url.endswith("#/runs?state=FAILED")

            await page.click("nav a[data-nav=playground]")
            # Validating nothing is answered in the page; an uploaded file fills the editor.
            await page.click("#validate")
            await expect(page.locator("#verdict")).to_have_text("Paste or upload a bundle first.")
            await page.set_input_files("#bundle-file", str(REPO_ROOT / "docs" / "examples" / "hello.mthds"))
            await expect(page.locator("#verdict")).to_have_text("Loaded hello.mthds.")
            await expect(page.locator("#bundle")).to_have_value(HELLO)
            await page.fill("#bundle", HELLO.replace('main_pipe = "welcome"', 'main_pipe = "welcome'))
            await page.click("#validate")
            await expect(page.locator("#verdict .problem")).to_contain_text("method.syntax")
            await page.fill("#bundle", HELLO)
            await page.click("#format")
            await expect(page.locator("#verdict")).to_have_text("Formatted.")
            formatted = (await stack.client.post("/v1/format", json={"content": HELLO})).json()["formatted"]
            assert formatted != HELLO
            await expect(page.locator("#bundle")).to_have_value(formatted)
            await page.click("#validate")
            await expect(page.locator("#verdict")).to_contain_text("Valid. 3 pipes, runnable.")
            await page.click("#inputs-template")
            await expect(page.locator("#pipe-contract")).to_contain_text("hello.Welcome")
            await expect(page.locator("#inputs")).to_have_value(json.dumps({"name": "text_value"}, indent=2))
            # Inputs that are not JSON are refused in the page, before any request.
            await page.fill("#inputs", "{name: Ada")
            await page.click("#start")
            await expect(page.locator("#start-note")).to_contain_text("The inputs are not valid JSON")
            await page.fill("#inputs", json.dumps({"name": "Ada Lovelace"}, indent=2))
            await expect(page.locator("#start-note")).to_be_empty()
            await page.locator("#bundle").evaluate("area => { area.scrollTop = 0; }")
            await page.screenshot(path=str(screenshots / "console-playground.png"))

            await page.click("#start")
            await page.wait_for_url("**/console#/runs/*", timeout=STEP_MS)
            run_id = page.url.rsplit("/", 1)[1]
            await expect(page.locator("#run-state")).to_have_text("COMPLETED")
            tree = page.locator("#pipe-tree li")
            await expect(tree).to_have_count(3)
            await expect(page.locator("#pipe-tree li[data-status=succeeded]")).to_have_count(3)
            await expect(page.locator("#pipe-tree .pipe-code")).to_have_text(["welcome", "greet", "wrap"])
            output = page.locator("#run-output")
            await expect(output).to_contain_text("hello.Welcome")
            await expect(output.locator("dl.fields dd").nth(0)).to_have_text("Ada Lovelace")
            await expect(output.locator("dl.fields dd").nth(1)).to_have_text(
                "Hello, Ada Lovelace! Your run is durable."
            )
            await expect(page.locator("#run-inputs")).to_contain_text("Ada Lovelace")
            await expect(page.locator("#run-deliveries")).to_contain_text("No callback URLs")
            await expect(page.locator("#cancel-run")).to_be_hidden()
            await page.screenshot(path=str(screenshots / "console-run.png"), full_page=True)

            # A failed run shows its problem where the output would be.
            await page.goto(f"{stack.base_url}/console#/runs?state=FAILED")
            await page.locator("table.runs tbody tr[data-run-id] a").click()
            await expect(page.locator("#run-output .problem")).to_contain_text("the ledger is closed")
            # An unknown run id is a readable problem, not a blank page.
            await page.goto(f"{stack.base_url}/console#/runs/no-such-run")
            await expect(page.locator(".page-problem")).to_contain_text("run.not_found")
        assert browsing.refused == []
        status = await stack.client.get(f"/v1/runs/{run_id}")
        assert status.json()["inputs"] == {"name": "Ada Lovelace"}


@pytest.mark.timeout(60)
async def test_with_api_keys_the_console_asks_for_a_key_and_shows_nothing_without_it(
    temporal_address: str, tmp_path: Path, chromium: str
) -> None:
    overrides = {"auth_mode": AuthMode.API_KEY, "api_key": SecretStr(KEY)}
    headers = {"Authorization": f"Bearer {KEY}"}
    async with run_stack(temporal_address, tmp_path, worker=False, api_overrides=overrides) as stack:
        run_id = await _run(stack, {"mthds_contents": [HELLO], "inputs": {"name": "Ada"}}, headers)
        await _listed(stack, {run_id}, headers)
        async with console_browser(chromium, stack.base_url) as browsing:
            page = browsing.page
            await page.goto(f"{stack.base_url}/console#/runs")
            await expect(page.locator("#credential")).to_be_visible()
            await expect(page.locator("h1")).to_have_text("Sign in")
            assert await page.locator("table.runs").count() == 0
            assert run_id not in await page.content()

            await page.fill("#credential", "not-the-key")
            await page.click("form.signin-form button")
            await expect(page.locator(".signin")).to_contain_text("Refused: The bearer key is not one")

            await page.fill("#credential", KEY)
            await page.click("form.signin-form button")
            await expect(page.locator(f"tr[data-run-id='{run_id}']")).to_have_count(1)
            stored = await page.evaluate(
                "[sessionStorage.getItem('methodflow.credential'), localStorage.length]"
            )
            assert stored == [KEY, 0]
            assert KEY not in page.url

            await page.click("#sign-out")
            await expect(page.locator("#credential")).to_be_visible()
            assert await page.evaluate("sessionStorage.getItem('methodflow.credential')") is None
        assert browsing.refused == []


@pytest.mark.timeout(60)
async def test_a_running_run_follows_the_event_stream_and_cancels(
    temporal_address: str, tmp_path: Path, chromium: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLOW_SECONDS", "0.4")  # read by the in-process worker at each call
    bundle = chain_bundle(run_functions.SLOW, 30, "slow")
    async with run_stack(temporal_address, tmp_path) as stack:
        run_id = await _run(stack, {"mthds_contents": [bundle], "inputs": {"name": "z"}})
        async with console_browser(chromium, stack.base_url) as browsing:
            page = browsing.page
            await page.goto(f"{stack.base_url}/console#/runs/{run_id}")
            await expect(page.locator("#run-state")).to_have_text("RUNNING")
            await expect(page.locator("#stream-note")).to_have_text("● live")
            succeeded = page.locator("#pipe-tree li[data-status=succeeded]")
            await expect(page.locator("#pipe-tree li[data-status=running]").first).to_be_visible()
            at_load = await succeeded.count()
            # The tree is read from /progress only at load and at the end: steps that succeed while the
            # run is still RUNNING reached the page through the event stream.
            await page.wait_for_function(
                "least => document.querySelectorAll('#pipe-tree li[data-status=succeeded]').length >= least",
                arg=at_load + 2,
                timeout=STEP_MS,
            )
            await expect(page.locator("#run-state")).to_have_text("RUNNING")
            # The record has no usage before the end: the counters' spend so far stands in (no model here).
            await expect(page.locator("#run-usage")).to_contain_text("Cost so far")
            await expect(page.locator("#run-usage")).to_contain_text("Model calls0")

            await page.click("#cancel-run")
            await expect(page.locator("#cancel-note")).to_contain_text("Cancel requested")
            await expect(page.locator("#run-state")).to_have_text("CANCELLED")
            await expect(page.locator("#cancel-run")).to_be_hidden()
            await expect(page.locator("#run-output .problem")).to_contain_text("run.cancelled")
            await expect(page.locator("#stream-note")).to_have_text("")
        assert browsing.refused == []
        assert (await stack.wait_for_end(run_id))["state"] == "CANCELLED"
