"""Guest routes throttle a flood from one address; loyalty points by phone for the truck's staff."""

from __future__ import annotations

import pytest

from tests.support.guest import SECRET, guest_order, pay
from tests.support.kitchen import LEMONADE, open_shift
from tests.support.server import RunningServer


@pytest.mark.hub(payment_webhook_secret=SECRET, guest_requests_per_min=5)
async def test_a_flood_from_one_address_is_throttled_but_the_webhook_is_not(server: RunningServer) -> None:
    async with server.client(await server.token("chef")) as staff, server.client() as guest:
        sid = await open_shift(staff)
        placed = (await guest_order(guest, sid, (LEMONADE, 1))).json()
        answers = [await guest.get(f"/api/guest/shifts/{sid}/menu") for _ in range(10)]
        refused = [a for a in answers if a.status_code == 429]
        assert refused and all(a.json()["error"]["code"] == "rate_limited" for a in refused)
        assert int(refused[0].headers["retry-after"]) >= 1
        assert (await guest_order(guest, sid, (LEMONADE, 1))).status_code == 429
        paid = await pay(guest, placed["order_token"], placed["amount_cents"])  # the provider always gets through
        assert paid.status_code == 200 and paid.json()["outcome"] == "queued"


@pytest.mark.hub(payment_webhook_secret=SECRET, loyalty_points_per_order=7)
async def test_loyalty_counts_completed_paid_orders_by_phone(server: RunningServer) -> None:
    phone = "+15550002222"
    async with server.client(await server.token("chef")) as chef, server.client() as guest:
        sid = await open_shift(chef)
        tickets = []
        for _ in range(3):
            placed = (await guest_order(guest, sid, (LEMONADE, 1), phone=phone)).json()
            assert (await pay(guest, placed["order_token"], placed["amount_cents"])).status_code == 200
            tickets.append((await guest.get(f"/api/guest/orders/{placed['order_token']}")).json()["number"])
        await guest_order(guest, sid, (LEMONADE, 1), phone=phone)  # never paid: no points
        kds = (await chef.get(f"/api/shifts/{sid}/kds")).json()["tickets"]
        for ticket in kds[:2]:
            for to in ("in_progress", "ready", "completed"):
                assert (await chef.post(f"/api/orders/{ticket['id']}/advance", json={"to": to})).status_code == 200
        assert (await chef.get(f"/api/guest/loyalty/{phone}")).json() == {"phone": phone, "points": 14, "orders": 2}
    async with server.client(await server.token("cook2")) as other, server.client(await server.token("manager")) as m:
        assert (await other.get(f"/api/guest/loyalty/{phone}")).status_code == 403  # never ordered from truck 2
        assert (await m.get("/api/guest/loyalty/+15559999999")).json()["points"] == 0
        assert (await m.get("/api/guest/loyalty/not-a-phone")).status_code == 400
    async with server.client() as anonymous:
        assert (await anonymous.get(f"/api/guest/loyalty/{phone}")).status_code == 401
    assert len(tickets) == 3
