"""The dispatch map in Chromium: a driver pinging over its socket appears, moves, goes stale; trail and nearby."""

from __future__ import annotations

import re
import time
from typing import Any

from playwright.async_api import Browser, expect

from tests.support.browser import Artefacts, ms, open_screen
from tests.support.drivers import add_drivers
from tests.support.server import RunningServer, command, send

DRIVER1 = 5  # seeded user id of driver1
HARBOR = (5.3600, -4.0083)  # seeded location 1


def ping(lat: float, lon: float, **extra: Any) -> dict[str, Any]:
    return {"type": "gps", "lat": lat, "lon": lon, "ts": time.time(), **extra}


async def test_a_pinging_driver_appears_moves_and_goes_stale(server: RunningServer, browser: Browser) -> None:
    screen = await open_screen(browser, server.http, "/dispatch?stale_s=2", "manager")
    page = screen.page
    await page.wait_for_function("() => window.fxDispatch.client?.state.name === 'online'")
    driver = await server.as_user("driver1")
    assert (await command(driver, {**ping(*HARBOR), "id": "p1"}))["type"] == "ack"
    marker = page.locator(f'#drivers .driver[data-driver="{DRIVER1}"]')
    row = page.locator(f'#driver-list li[data-driver="{DRIVER1}"]')
    await expect(marker).to_be_visible()
    await expect(row).to_contain_text(re.compile(r"Driver 5\s*\d+ s ago"))
    first = await marker.get_attribute("transform")
    assert first is not None and first.startswith("translate(")

    assert (await command(driver, {**ping(HARBOR[0] + 0.004, HARBOR[1] + 0.003), "id": "p2"}))["type"] == "ack"
    await expect(marker).not_to_have_attribute("transform", first, timeout=ms(1000))
    await expect(marker).not_to_have_class(re.compile("stale"))
    # No ping for stale_s (2 s here, 60 by default): marked on the map and in the list.
    await expect(marker).to_have_class(re.compile(r"\bstale\b"), timeout=ms(10_000))
    await expect(row).to_have_class(re.compile(r"\bstale\b"))
    await expect(page.locator("#summary")).to_contain_text("1 driver · 1 stale")

    await row.locator("button").click()  # the trail: both pings, oldest first
    polyline = page.locator("#trail polyline")
    await expect(polyline).to_have_attribute("points", re.compile(r"^[\d.]+,[\d.]+ [\d.]+,[\d.]+$"))
    await expect(page.locator("#trail-info")).to_contain_text("2 positions")
    await send(driver, ping(HARBOR[0] + 0.005, HARBOR[1] + 0.004))  # a selected driver's trail grows live
    await expect(polyline).to_have_attribute("points", re.compile(r"^([\d.]+,[\d.]+ ){2}[\d.]+,[\d.]+$"))
    await expect(marker).not_to_have_class(re.compile(r"\bstale\b"))

    box = await marker.bounding_box()
    assert box is not None
    await page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2 + 30)  # beside it, on the map
    await expect(page.locator("#nearby-title")).to_contain_text("Within 1 km of")
    await expect(page.locator("#nearby-list")).to_contain_text(re.compile(r"Driver 5 — \d+ m"))
    await expect(page.locator("#nearby circle")).to_have_count(1)
    await driver.close()
    assert screen.errors == []


async def test_dispatch_screenshot_with_a_fleet(server: RunningServer, browser: Browser, artefacts: Artefacts) -> None:
    tokens = await add_drivers(server, 12)
    sockets = [await server.connect(token) for token in tokens]
    try:
        for n, ws in enumerate(sockets):
            await send(ws, ping(5.345 + 0.0015 * n, -4.02 + 0.0025 * (n % 5), speed=8.0))
        screen = await open_screen(browser, server.http, "/dispatch", "manager")
        page = screen.page
        await expect(page.locator("#drivers .driver")).to_have_count(12)
        for step in range(1, 4):  # the first driver drives east: a trail to show
            await send(sockets[0], ping(5.345 + 0.001 * step, -4.02 + 0.002 * step))
        first = page.locator("#driver-list li").first
        await first.locator("button").click()
        await expect(page.locator("#trail-info")).to_contain_text("4 positions")
        await expect(page.locator("#landmarks .landmark")).to_have_count(2)
        await page.mouse.click(300, 400)
        await expect(page.locator("#nearby-list li").first).to_be_visible()
        await artefacts.screenshot(page, "dispatch")
        assert screen.errors == []
    finally:
        for ws in sockets:
            await ws.close()
