"""The guest menu (protocol.md §4.3): only what a guest may order now, sold-out flags, wait, ETag and 304."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.guest import SECRET
from tests.support.kitchen import ELOTE, FRIES, TACO, open_shift, set_stock
from tests.support.server import RunningServer
from tests.support.timing import wait_until

pytestmark = pytest.mark.hub(payment_webhook_secret=SECRET, guest_requests_per_min=100_000)  # the tests poll


def _items(menu: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {i["id"]: i for c in menu["categories"] for i in c["items"]}


async def _menu_until(http: httpx.AsyncClient, sid: int, done: Any) -> dict[str, Any]:
    """The menu once ``done(menu)`` holds (it is cached for about a second: poll, never sleep)."""
    found: dict[str, Any] = {}

    async def check() -> bool:
        nonlocal found
        found = (await http.get(f"/api/guest/shifts/{sid}/menu")).json()
        return bool(done(found))

    await wait_until(check)
    return found


async def test_the_guest_menu_shows_what_can_be_ordered_now(server: RunningServer) -> None:
    async with server.client(await server.token("manager")) as staff, server.client() as guest:
        sid = await open_shift(staff)
        soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        assert (await staff.patch(f"/api/menu/items/{ELOTE}", json={"active": False})).status_code == 200
        now_special = await staff.post(f"/api/shifts/{sid}/specials", json={"name": "Birria", "price_cents": 900})
        later = {"name": "Late churros", "price_cents": 300, "available_from": soon}
        assert (await staff.post(f"/api/shifts/{sid}/specials", json=later)).status_code == 201
        await set_stock(staff, sid, {"item_id": FRIES, "stock": 0})

        first = await guest.get(f"/api/guest/shifts/{sid}/menu")
        assert first.status_code == 200 and first.headers["etag"]
        menu = first.json()
        assert menu["shift"] == {"id": sid, "status": "active", "truck_name": menu["shift"]["truck_name"]}
        assert menu["shift"]["truck_name"] and menu["accepting_orders"] is True and menu["message"] is None
        assert isinstance(menu["wait_estimate_s"], int) and menu["wait_estimate_s"] > 0
        items = _items(menu)
        assert ELOTE not in items and items[TACO]["price_cents"] == 450 and items[TACO]["sold_out"] is False
        assert items[FRIES]["sold_out"] is True
        assert [s["name"] for s in menu["specials"]] == ["Birria"] and now_special.status_code == 201
        assert all(set(i) == {"id", "name", "price_cents", "sold_out"} for i in items.values())

        cached = await guest.get(f"/api/guest/shifts/{sid}/menu", headers={"If-None-Match": first.headers["etag"]})
        assert cached.status_code in (200, 304)  # 304 unless the second-long cache turned over in between
        if cached.status_code == 304:
            assert cached.content == b"" and cached.headers["etag"] == first.headers["etag"]

        await set_stock(staff, sid, {"item_id": FRIES, "stock": 3})
        restocked = await _menu_until(guest, sid, lambda m: not _items(m)[FRIES]["sold_out"])
        assert _items(restocked)[FRIES]["sold_out"] is False
        assert (await staff.post(f"/api/shifts/{sid}/pause")).status_code == 200
        paused = await _menu_until(guest, sid, lambda m: m["shift"]["status"] == "paused")
        assert paused["accepting_orders"] is False and "paused" in paused["message"]
        assert (await guest.get("/api/guest/shifts/999999/menu")).status_code == 404


async def test_an_unchanged_menu_answers_304(server: RunningServer) -> None:
    async with server.client(await server.token("chef")) as staff, server.client() as guest:
        sid = await open_shift(staff)
        etag = (await guest.get(f"/api/guest/shifts/{sid}/menu")).headers["etag"]
        again = await guest.get(f"/api/guest/shifts/{sid}/menu", headers={"If-None-Match": etag})
        # the menu did not change, so even a re-rendering (the cache turned over) has the same ETag
        assert again.status_code == 304 and again.headers["etag"] == etag
