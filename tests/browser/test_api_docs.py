"""``/docs`` and ``/redoc`` render the generated document in Chromium, offline: nothing fetched from another host,
no script error, no Content-Security-Policy violation."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, ConsoleMessage, Request

from tests.support.browser import Artefacts, ms
from tests.support.server import RunningServer


@pytest.mark.parametrize(
    ("path", "ready"),
    [
        ("/docs", "#operations-orders-place_order"),  # Swagger UI: the tag "orders", operation place_order
        ("/redoc", "[data-section-id='tag/orders']"),
    ],
)
async def test_the_viewer_renders_the_document(
    server: RunningServer, browser: Browser, artefacts: Artefacts, path: str, ready: str
) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, base_url=server.http)
    context.set_default_timeout(ms(20_000))
    page = await context.new_page()
    hosts: set[str] = set()
    problems: list[str] = []
    page.on("request", lambda request: _host(request, hosts))
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda message: _console(message, problems))
    try:
        await page.goto(path)
        await page.locator(ready).first.wait_for(state="attached")
        await artefacts.screenshot(page, f"api{path.replace('/', '-')}")
    finally:
        await context.close()
    assert hosts == {f"127.0.0.1:{server.port}"}, hosts
    assert problems == []


def _host(request: Request, hosts: set[str]) -> None:
    if not request.url.startswith(("data:", "blob:")):
        hosts.add(urlsplit(request.url).netloc)


def _console(message: ConsoleMessage, problems: list[str]) -> None:
    if message.type == "error" or "Content Security Policy" in message.text:
        problems.append(message.text)
