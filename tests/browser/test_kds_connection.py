"""The kitchen screen is honest about its connection: an outage is shown within 3 s with the age of the data,
the screen catches up after it without showing a ticket twice or missing one, and a revoked session asks
for a new login."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import RestartableServer
from tests.support.backends import BACKEND
from tests.support.browser import Artefacts, ms, open_screen
from tests.support.kitchen import LEMONADE, TACO, open_shift, order
from tests.support.server import RunningServer


async def ticket_ids(page: Page) -> list[int]:
    ids: list[int] = await page.eval_on_selector_all(
        "#rail li.ticket", "els => els.map(e => Number(e.dataset.ticketId))"
    )
    return ids


async def wait_live(page: Page) -> None:
    await page.wait_for_function("() => window.fxKds?.kds?.live && window.fxKds.client.state.name === 'online'")


async def test_an_outage_is_shown_and_every_ticket_appears_once_after_a_restart(
    restartable: RestartableServer, browser: Browser, artefacts: Artefacts
) -> None:
    server = await restartable.start()
    token = await server.token("chef")
    async with server.client(token) as http:
        sid = await open_shift(http, max_orders_per_slot=1000)
        before = [(await order(http, sid, (TACO, 1))).json()["id"]]
    screen = await open_screen(browser, server.http, "/kds", "chef")
    page = screen.page
    await wait_live(page)
    epoch = await page.evaluate("window.fxKds.kds.position.epoch")

    await restartable.stop()  # the hub drains: sockets closed 1001, then nothing listens
    banner = page.locator("#conn")
    await expect(banner).to_be_visible(timeout=ms(3000))
    await expect(banner).to_contain_text(re.compile(r"Offline — tickets as of \d\d:\d\d:\d\d, \d+ s ago"))
    await artefacts.screenshot(page, "kds-offline")

    server = await restartable.start()  # same port, same database; in-process broker: a new epoch
    async with server.client(token) as http:
        during = [(await order(http, sid, (TACO, 1), (LEMONADE, 1))).json()["id"] for _ in range(3)]
        await expect(banner).to_be_hidden(timeout=ms(20_000))  # backoff is capped at 10 s
        await wait_live(page)
        # Placed while the screen was away: only the refetched snapshot has them (resume says recovered:false).
        for oid in before + during:
            await expect(page.locator(f'#rail li.ticket[data-ticket-id="{oid}"]')).to_have_count(1)
        after = [(await order(http, sid, (LEMONADE, 2))).json()["id"] for _ in range(2)]
        for oid in after:  # live again
            await expect(page.locator(f'#rail li.ticket[data-ticket-id="{oid}"]')).to_have_count(1, timeout=ms(1000))
        expected = before + during + after
        advanced = await http.post(f"/api/orders/{before[0]}/advance", json={"to": "in_progress"})
        assert advanced.status_code == 200
        await expect(page.locator(f'#rail li.ticket[data-ticket-id="{before[0]}"]')).to_have_attribute(
            "data-status", "in_progress", timeout=ms(1000)
        )
    assert await ticket_ids(page) == expected  # each once, oldest first, nothing else
    stats = await page.evaluate("window.fxKds.kds.stats")
    if BACKEND != "postgres":  # in-process broker: the restart is a new epoch, only a fresh snapshot is right
        assert await page.evaluate("window.fxKds.kds.position.epoch") != epoch
        assert stats["snapshots"] >= 2, stats
    assert screen.errors == []


async def test_a_revoked_session_asks_to_log_in_again_and_then_resumes(server: RunningServer, browser: Browser) -> None:
    async with server.client(await server.token("chef")) as http:
        sid = await open_shift(http)
        first = (await order(http, sid, (TACO, 1))).json()["id"]
        screen = await open_screen(browser, server.http, "/kds", "chef")
        page = screen.page
        await wait_live(page)
        page_token = await page.evaluate("JSON.parse(sessionStorage.getItem('fx.session')).access_token")
        async with server.client(page_token) as as_page:
            assert (await as_page.post("/api/auth/logout")).status_code == 200  # its socket closes 4401
        login = page.locator("#login")
        await expect(login).to_be_visible()
        await expect(login).to_contain_text("log in again")
        await expect(page.locator("#conn")).to_contain_text("log in again")
        second = (await order(http, sid, (TACO, 1))).json()["id"]  # placed while the screen is logged out
        await page.fill("#login input[name=username]", "chef")
        await page.fill("#login input[name=password]", "password")
        await page.click("#login button[type=submit]")
        await expect(page.locator("#conn")).to_be_hidden()
        await expect(page.locator(f'#rail li.ticket[data-ticket-id="{second}"]')).to_have_count(1)
    assert await ticket_ids(page) == [first, second]
    assert screen.errors == []


@pytest.mark.hub(access_ttl_s=6)
async def test_tokens_are_refreshed_before_they_expire_and_the_socket_stays_open(
    server: RunningServer, browser: Browser
) -> None:
    async with server.client(await server.token("chef")) as http:
        sid = await open_shift(http)
        screen = await open_screen(browser, server.http, "/kds", "chef")
        page = screen.page
        await wait_live(page)
        token = "JSON.parse(sessionStorage.getItem('fx.session')).access_token"
        tokens = [await page.evaluate(token)]
        for _ in range(2):  # two refreshes: the hub would close 4401 at 6 s without them
            await page.wait_for_function(f"t => {token} !== t", arg=tokens[-1], timeout=ms(15_000))
            tokens.append(await page.evaluate(token))
    async with server.client(await server.token("chef")) as http:  # the first token has expired by now
        placed = (await order(http, sid, (TACO, 1))).json()["id"]
        await expect(page.locator(f'#rail li.ticket[data-ticket-id="{placed}"]')).to_be_visible(timeout=ms(1000))
    states = await page.evaluate("window.fxKds.states")
    assert states[states.index("online") :] == ["online"], states  # online once, never dropped
    assert len(set(tokens)) == 3
    assert screen.errors == []


async def test_close_codes_and_backoff_follow_the_contract(server: RunningServer, browser: Browser) -> None:
    """protocol.md §2.6 as the client module reads it, and the full-jitter bounds, evaluated in the browser."""
    page = await browser.new_page()
    await page.goto(server.http + "/")
    result = await page.evaluate(
        """async () => {
          const m = await import("/static/js/hub-client.js");
          const codes = [1000, 1001, 1006, 1009, 1011, 4400, 4401, 4408, 4429, 4500];
          const bound = (n) => m.backoffDelay(n, { random: () => 0.999999 });
          return {
            actions: Object.fromEntries(codes.map((c) => [c, m.closeAction(c)])),
            upper: [0, 1, 2, 3, 4, 5, 6, 10].map((n) => Math.round(bound(n))),
            lower: m.backoffDelay(7, { random: () => 0 }),
          };
        }"""
    )
    await page.close()
    assert result["actions"] == {
        "1000": "reconnect",
        "1001": "reconnect",
        "1006": "reconnect",
        "1009": "stop",
        "1011": "reconnect",
        "4400": "stop",
        "4401": "login",
        "4408": "reconnect",
        "4429": "slow-down",
        "4500": "reconnect",
    }
    assert result["upper"] == [500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]  # base 500 ms, cap 10 s
    assert result["lower"] == 0
