"""The kitchen screen in Chromium: tickets arrive and move live on every screen, and what a cook does works."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.async_api import Browser, Locator, Page, expect

from tests.support.browser import Artefacts, Screen, ms, open_screen
from tests.support.kitchen import FISH, FRIES, LEMONADE, PASTOR, TACO, open_shift, set_stock
from tests.support.server import RunningServer


def ticket(page: Page, ticket_id: int) -> Locator:
    return page.locator(f'#rail li.ticket[data-ticket-id="{ticket_id}"]')


async def live(screen: Screen) -> None:
    """Until the screen holds the snapshot and its socket is subscribed: from then on events must show."""
    await screen.page.wait_for_function(
        "() => window.fxKds?.kds?.live && window.fxKds.stock.live && window.fxKds.client.state.name === 'online'"
    )


async def place(http: httpx.AsyncClient, shift_id: int, *lines: tuple[int, int, list[str]], **extra: Any) -> Any:
    body = {"items": [{"item_id": i, "qty": q, "modifiers": m} for i, q, m in lines], **extra}
    response = await http.post(f"/api/shifts/{shift_id}/orders", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def test_an_order_and_every_tap_reach_a_second_screen_within_a_second(
    server: RunningServer, browser: Browser
) -> None:
    async with server.client(await server.token("chef")) as http:
        sid = await open_shift(http)
        first = await open_screen(browser, server.http, "/kds", "chef")
        second = await open_screen(browser, server.http, "/kds", "chef")
        await live(first)
        await live(second)
        placed = await place(http, sid, (TACO, 2, ["no onion", "extra salsa"]), (FRIES, 1, []), customer_name="Ada")
        on_first, on_second = ticket(first.page, placed["id"]), ticket(second.page, placed["id"])
        await expect(on_first).to_be_visible(timeout=ms(1000))
        await expect(on_second).to_be_visible(timeout=ms(1000))
        for text in (f"#{placed['number']}", "Ada", "2×", "Carne asada taco", "no onion · extra salsa", "1×", "Fries"):
            await expect(on_first).to_contain_text(text)
        for status in ("in_progress", "ready"):
            await on_first.locator("button.advance").click()
            await expect(on_second).to_have_attribute("data-status", status, timeout=ms(1000))
            await expect(on_first).to_have_attribute("data-status", status, timeout=ms(1000))
        await on_first.locator("button.advance").click()  # bump: completed tickets leave the rail
        await expect(on_second).to_have_count(0, timeout=ms(1000))
        await expect(on_first).to_have_count(0, timeout=ms(1000))
        assert (await http.get(f"/api/orders/{placed['id']}")).json()["status"] == "completed"

        await second.page.click("#recall-open")  # recall on the screen that did not bump it
        entry = second.page.locator(f'#recall-dialog button[data-ticket-id="{placed["id"]}"]')
        await expect(entry).to_contain_text(f"#{placed['number']} Ada")
        await entry.click()
        await expect(second.page.locator("#ticket-dialog h2")).to_contain_text("completed")
        await expect(second.page.locator("#ticket-dialog .detail")).to_contain_text("2× Carne asada taco")
    assert first.errors == [] and second.errors == []


async def test_hold_cancel_station_views_all_day_counts_and_stock_banner(
    server: RunningServer, browser: Browser
) -> None:
    async with server.client(await server.token("chef")) as http:
        sid = await open_shift(http)
        await set_stock(http, sid, {"item_id": FRIES, "stock": 0}, {"item_id": TACO, "stock": 10, "low_threshold": 20})
        a = await place(http, sid, (TACO, 2, []), (LEMONADE, 1, []), customer_name="Grace")
        b = await place(http, sid, (FISH, 1, []), (TACO, 1, []), customer_name="Linus")
        screen = await open_screen(browser, server.http, "/kds", "chef")
        page = screen.page
        await live(screen)
        banner = page.locator("#stock")
        await expect(banner).to_contain_text("Sold out: Fries")
        await expect(banner).to_contain_text("Running low: Carne asada taco (7 left)")
        all_day = page.locator("#allday")
        await expect(all_day).to_contain_text("3 Carne asada taco")
        await expect(all_day).to_contain_text("1 Fish taco")

        await page.click('#views button[data-view="fryer"]')  # station view: only tickets with fryer items
        await expect(ticket(page, a["id"])).to_be_hidden()
        await expect(ticket(page, b["id"])).to_be_visible()
        await expect(all_day).to_have_text("1 Fish taco")
        await page.click('#views button[data-view="all"]')
        await expect(ticket(page, a["id"])).to_be_visible()

        held = ticket(page, a["id"])
        await held.locator('button[data-action="hold"]').click()
        await expect(held).to_have_attribute("data-held", "true")
        await expect(held).to_contain_text("On hold")
        await expect(held.locator("button.advance")).to_be_disabled()
        await held.locator("article header").click()  # a tap on a held card explains instead of advancing
        await expect(page.locator("#toast")).to_contain_text("on hold")
        await held.locator('button[data-action="resume"]').click()
        await expect(held).to_have_attribute("data-held", "false")

        await ticket(page, b["id"]).locator('button[data-action="cancel"]').click()
        dialog = page.locator("#cancel-dialog")
        await dialog.get_by_label("Out of stock").check()
        await dialog.get_by_role("button", name="Cancel the ticket").click()
        await expect(ticket(page, b["id"])).to_have_count(0)
        await expect(all_day).not_to_contain_text("Fish taco")
        cancelled = (await http.get(f"/api/orders/{b['id']}")).json()
        assert cancelled["status"] == "cancelled" and cancelled["cancel_reason"] == "Out of stock"

        await set_stock(http, sid, {"item_id": FRIES, "stock": 5})  # stock.restocked clears the warning
        await expect(banner).not_to_contain_text("Fries", timeout=ms(1000))
        assert (await http.post(f"/api/shifts/{sid}/pause")).status_code == 200  # shift:{id} reaches the header
        await expect(page.locator("#shift-label")).to_contain_text("paused: no new orders", timeout=ms(1000))
        assert (await http.post(f"/api/shifts/{sid}/resume")).status_code == 200
        await expect(page.locator("#shift-label")).not_to_contain_text("paused", timeout=ms(1000))
    assert screen.errors == []


async def test_age_colours_follow_the_thresholds_and_screenshots(
    server: RunningServer, browser: Browser, artefacts: Artefacts
) -> None:
    async with server.client(await server.token("chef")) as http:
        sid = await open_shift(http, max_orders_per_slot=1000)
        await set_stock(http, sid, {"item_id": FRIES, "stock": 0}, {"item_id": FISH, "stock": 3, "low_threshold": 5})
        screen = await open_screen(browser, server.http, "/kds?warn_s=2&late_s=4", "chef")
        page = screen.page
        await live(screen)
        oldest = await place(http, sid, (TACO, 2, ["no onion"]), (LEMONADE, 2, []), customer_name="Ada")
        second = await place(
            http, sid, (PASTOR, 3, []), (FISH, 1, []), customer_name="Barbara", note="allergy: peanuts"
        )
        await expect(ticket(page, oldest["id"])).to_have_attribute("data-age", "warn")
        await expect(ticket(page, oldest["id"])).to_have_attribute("data-age", "late")
        middle = await place(http, sid, (FISH, 1, []), (LEMONADE, 1, ["no ice"]), customer_name="Edsger")
        await expect(ticket(page, middle["id"])).to_have_attribute("data-age", "ok")
        await expect(ticket(page, middle["id"])).to_have_attribute("data-age", "warn")
        newest = await place(http, sid, (TACO, 1, []), customer_name="Margaret")
        held = await place(http, sid, (PASTOR, 1, ["extra cheese"]), customer_name="Ken")
        assert (await http.post(f"/api/orders/{held['id']}/hold")).status_code == 200
        assert (await http.post(f"/api/orders/{oldest['id']}/advance", json={"to": "in_progress"})).status_code == 200
        for step in ("in_progress", "ready"):
            assert (await http.post(f"/api/orders/{second['id']}/advance", json={"to": step})).status_code == 200
        await expect(ticket(page, newest["id"])).to_have_attribute("data-age", "ok")
        await expect(ticket(page, held["id"])).to_have_attribute("data-held", "true")
        await expect(ticket(page, second["id"])).to_have_attribute("data-status", "ready")
        await artefacts.screenshot(page, "kds")
        await page.click('#views button[data-view="expo"]')  # expo: the ready ticket jumps ahead of older ones
        await expect(page.locator('#views button[data-view="expo"]')).to_have_attribute("aria-pressed", "true")
        ready_box = await ticket(page, second["id"]).bounding_box()
        oldest_box = await ticket(page, oldest["id"]).bounding_box()
        assert ready_box and oldest_box and (ready_box["y"], ready_box["x"]) < (oldest_box["y"], oldest_box["x"])
        await artefacts.screenshot(page, "kds-expo")
    assert screen.errors == []
