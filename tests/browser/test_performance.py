"""What the screens cost in the browser: event apply time with 200 open tickets, memory over a burst of events,
and the dispatch map under 500 drivers pinging once a second. Figures are written to ``perf.json`` among the
test artefacts (and to ``artifacts/`` in the repository) so a run can be compared with the last one."""

from __future__ import annotations

import asyncio
import json
import statistics
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Browser, CDPSession, Page, expect

from tests.support.browser import Artefacts, ms, open_screen
from tests.support.kitchen import FISH, LEMONADE, TACO, open_shift, order
from tests.support.server import RunningServer

OPEN_TICKETS = 200
QUIET_EVENTS = 30
FRAME_BUDGET_MS = 16.0  # one frame at 60 Hz
RESULTS: dict[str, Any] = {}
FEED_FLEET = Path(__file__).with_name("feed_fleet.js")


async def in_batches(calls: list[Awaitable[httpx.Response]], size: int = 8) -> None:
    for start in range(0, len(calls), size):
        for response in await asyncio.gather(*calls[start : start + size]):
            assert response.status_code in (200, 201), response.text


async def heap(cdp: CDPSession) -> dict[str, float]:
    """Used JS heap and DOM nodes after a full garbage collection (what stays, not what is about to go)."""
    for _ in range(2):  # DOM nodes freed by the first collection let the second free what they held
        await cdp.send("HeapProfiler.collectGarbage")
    used = (await cdp.send("Runtime.getHeapUsage"))["usedSize"]
    nodes = (await cdp.send("Memory.getDOMCounters"))["nodes"]
    return {"heap_bytes": float(used), "dom_nodes": float(nodes)}


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "count": len(ordered),
        "median_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 3),
        "max_ms": round(ordered[-1], 3),
    }


def record(artefacts: Artefacts, name: str, figures: dict[str, Any]) -> None:
    RESULTS[name] = figures
    artefacts.write("perf.json", json.dumps(RESULTS, indent=2) + "\n")
    print(f"{name}: {json.dumps(figures)}")


async def applied_after(page: Page, count: int, calls: list[Awaitable[httpx.Response]]) -> list[float]:
    """Make ``calls`` (``count`` events) and return the screen's apply time of each, once all are on screen."""
    first = await page.evaluate("window.fxKds.applyMs.length")
    done = await page.evaluate("window.fxKds.kds.stats.applied")
    await in_batches(calls)
    await page.wait_for_function(f"() => window.fxKds.kds.stats.applied >= {done + count}", timeout=ms(60_000))
    samples: list[float] = await page.evaluate(f"window.fxKds.applyMs.slice({first})")
    return samples


async def test_one_event_with_200_open_tickets_applies_within_a_frame_and_memory_stays_flat(
    server: RunningServer, browser: Browser, artefacts: Artefacts
) -> None:
    async with server.client(await server.token("chef")) as http:
        sid = await open_shift(http, max_orders_per_slot=10_000)
        lines = [((TACO, 2), (LEMONADE, 1)), ((FISH, 1),), ((TACO, 1), (FISH, 1), (LEMONADE, 3))]
        await in_batches([order(http, sid, *lines[n % 3], customer_name=f"Guest {n}") for n in range(OPEN_TICKETS)])
        ids = [t["id"] for t in (await http.get(f"/api/shifts/{sid}/kds")).json()["tickets"]]
        screen = await open_screen(browser, server.http, "/kds", "chef")
        page = screen.page
        await expect(page.locator("#rail li.ticket")).to_have_count(OPEN_TICKETS)
        await page.wait_for_function("() => window.fxKds.kds.live && window.fxKds.client.state.name === 'online'")
        cdp = await page.context.new_cdp_session(page)
        with_200 = await heap(cdp)

        # 1. One event at a time, each awaited on the screen: the cost of an event when nothing else competes.
        quiet: list[float] = []
        for oid in ids[:QUIET_EVENTS]:
            quiet += await applied_after(page, 1, [http.post(f"/api/orders/{oid}/hold")])
        # 2. Twenty more tickets arrive (8 orders at a time): what a ticket costs to keep.
        arrivals = await applied_after(page, 20, [order(http, sid, (TACO, 1)) for _ in range(20)])
        await expect(page.locator("#rail li.ticket")).to_have_count(OPEN_TICKETS + 20)
        with_220 = await heap(cdp)
        # 3. A burst of churn on the same tickets (hold, resume, start each of 200, 8 requests at a time): what
        #    an event leaves behind once applied. The number of open tickets does not change.
        churn = 3 * OPEN_TICKETS - QUIET_EVENTS
        burst = await applied_after(
            page,
            churn,
            [http.post(f"/api/orders/{oid}/hold") for oid in ids[QUIET_EVENTS:]]
            + [http.post(f"/api/orders/{oid}/resume") for oid in ids]
            + [http.post(f"/api/orders/{oid}/advance", json={"to": "in_progress"}) for oid in ids],
        )
        after_churn = await heap(cdp)

    per_ticket = (with_220["heap_bytes"] - with_200["heap_bytes"]) / 20
    per_event = (after_churn["heap_bytes"] - with_220["heap_bytes"]) / churn
    figures = {
        "open_tickets": OPEN_TICKETS,
        "apply_one_event_at_a_time": summary(quiet),
        "apply_20_arrivals": summary(arrivals),
        "apply_burst": summary(burst),
        "heap_bytes_200_tickets": with_200["heap_bytes"],
        "heap_bytes_220_tickets": with_220["heap_bytes"],
        "heap_bytes_after_churn": after_churn["heap_bytes"],
        "heap_bytes_per_open_ticket": round(per_ticket),
        "heap_bytes_left_per_event": round(per_event, 1),
        "dom_nodes_200_tickets": with_200["dom_nodes"],
        "dom_nodes_220_tickets": with_220["dom_nodes"],
        "dom_nodes_after_churn": after_churn["dom_nodes"],
    }
    record(artefacts, "kds_apply_200_tickets", figures)
    assert len(quiet) == QUIET_EVENTS and len(arrivals) == 20 and len(burst) == churn, figures
    # performance.now() around the apply (ticket state + that ticket's DOM + all-day counts), per event. The
    # typical apply must fit in a frame many times over; maxima and tails are the machine's scheduling on a
    # busy shared box (seen 16-350 ms), so they are recorded as figures, not asserted (a regression that makes
    # every apply slow, e.g. re-rendering the whole rail, still fails here).
    assert summary(quiet)["median_ms"] < FRAME_BUDGET_MS / 2, figures
    assert summary(arrivals + burst)["median_ms"] < FRAME_BUDGET_MS / 2, figures
    # Churn leaves nothing behind: the same DOM within collector noise (a leak of the replaced ticket elements
    # would be ~30 nodes an event, 17,000 here), and the heap within noise (V8 rounds by pages).
    assert after_churn["dom_nodes"] <= with_220["dom_nodes"] * 1.05, figures
    assert abs(per_event) < 500, figures
    assert screen.errors == []


async def feed_fleet(page: Page, drivers: int, seconds: int) -> dict[str, Any]:
    """Positions of ``drivers`` drivers once a second for ``seconds``, fed inside the page (``feed_fleet.js``)."""
    result: dict[str, Any] = await page.evaluate(
        FEED_FLEET.read_text(),
        {"drivers": drivers, "seconds": seconds},
    )
    return result


async def test_the_dispatch_map_keeps_up_with_500_drivers_pinging_every_second(
    server: RunningServer, browser: Browser, artefacts: Artefacts
) -> None:
    screen = await open_screen(browser, server.http, "/dispatch", "manager")
    page = screen.page
    await page.wait_for_function("() => window.fxDispatch.client?.state.name === 'online'")
    arrival = await feed_fleet(page, drivers=500, seconds=1)  # every driver appears (markers, rows, refits)
    result = await feed_fleet(page, drivers=500, seconds=5)
    flush = summary(result["flushMs"])
    figures = {
        "first_second_flush": summary(arrival["flushMs"]),
        "steady_flush": flush,
        "drivers": 500,
        "positions": 2500,
        "frames_drawn": result["frames"],
        "long_animation_frames_observed": result["longFramesObserved"],
        "long_animation_frames": len(result["long"]),
        "longest_animation_frame_ms": round(max(result["long"], default=0.0), 1),
        "markers": result["markers"],
    }
    record(artefacts, "dispatch_500_drivers", figures)
    assert result["markers"] == 500, figures
    # A frame draws what arrived since the last one (here 50 positions): that work must fit in a frame.
    assert flush["p95_ms"] < FRAME_BUDGET_MS, figures
    assert summary(arrival["flushMs"])["p95_ms"] < FRAME_BUDGET_MS, figures
    assert screen.errors == []
