"""Stock holds of unpaid guest orders: a race for the last units, expiry, payments after expiry, reconcile."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.guest import SECRET, guest_order, pay
from tests.support.kitchen import LEMONADE, TACO, events_until, open_shift, set_stock, stock_of
from tests.support.kitchen import subscribe as sub
from tests.support.server import RunningServer
from tests.support.timing import wait_until

pytestmark = pytest.mark.hub(payment_webhook_secret=SECRET)

# Every hold has lapsed once it is made; only the reconcile the test asks for runs.
NO_HOLD = {"payment_webhook_secret": SECRET, "payment_hold_s": 0.0, "guest_reconcile_s": 0.0}


async def test_twenty_guests_race_for_the_last_five_units(server: RunningServer) -> None:
    async with server.client(await server.token("chef")) as staff, server.client() as guest:
        sid = await open_shift(staff, max_orders_per_slot=100)
        await set_stock(staff, sid, {"item_id": TACO, "stock": 5})
        answers = await asyncio.gather(*(guest_order(guest, sid, (TACO, 1)) for _ in range(20)))
        codes = sorted(a.status_code for a in answers)
        assert codes == [201] * 5 + [409] * 15, [a.text for a in answers]
        assert {a.json()["error"]["code"] for a in answers if a.status_code == 409} == {"sold_out"}
        assert (await stock_of(staff, sid, TACO))["stock"] == 0
        assert (await guest_order(guest, sid, (TACO, 1))).status_code == 409  # held units stay held


@pytest.mark.hub(**NO_HOLD)
async def test_an_expired_hold_frees_its_unit_and_a_late_payment_is_rejected(server: RunningServer) -> None:
    async with (
        server.client(await server.token("chef")) as staff,
        server.client(await server.token("admin")) as admin,
        server.client() as guest,
    ):
        sid = await open_shift(staff)
        await set_stock(staff, sid, {"item_id": TACO, "stock": 1})
        late = (await guest_order(guest, sid, (TACO, 1))).json()
        nxt = await guest_order(guest, sid, (TACO, 1))  # the first hold lapsed: its unit is the next guest's
        assert nxt.status_code == 201, nxt.text
        assert (await guest.get(f"/api/guest/orders/{late['order_token']}")).json()["status"] == "expired"

        # the next guest's hold lapses too: reconcile gives its unit back
        assert (await admin.post("/api/guest/reconcile")).json() == {"queued": 0, "expired": 1, "rejected": 0}
        assert (await stock_of(staff, sid, TACO))["stock"] == 1
        # a late payment re-takes the unit when it is still there...
        paid = await pay(guest, nxt.json()["order_token"], nxt.json()["amount_cents"])
        assert paid.json()["outcome"] == "queued" and (await stock_of(staff, sid, TACO))["stock"] == 0
        # ...and is rejected (refund) when it is gone
        rejected = await pay(guest, late["order_token"], late["amount_cents"])
        assert rejected.status_code == 200 and rejected.json()["outcome"] == "rejected"
        assert rejected.json()["status"] == "rejected"
        audit = (await admin.get("/api/audit", params={"action": "guest_order.reject"})).json()["items"]
        assert len(audit) == 1 and audit[0]["new"]["refund_cents"] == late["amount_cents"]
        assert len((await staff.get(f"/api/shifts/{sid}/kds")).json()["tickets"]) == 1
        assert (await admin.post("/api/guest/reconcile")).json() == {"queued": 0, "expired": 0, "rejected": 0}


async def test_a_payment_while_the_shift_is_paused_is_queued_by_reconcile(server: RunningServer) -> None:
    async with (
        server.client(await server.token("chef")) as staff,
        server.client(await server.token("admin")) as admin,
        server.client() as guest,
    ):
        sid = await open_shift(staff)
        tablet = await server.as_user("chef")
        await sub(tablet, f"kds:{sid}")
        placed = (await guest_order(guest, sid, (LEMONADE, 2))).json()
        assert (await staff.post(f"/api/shifts/{sid}/pause")).status_code == 200
        paid = await pay(guest, placed["order_token"], placed["amount_cents"])
        assert paid.json() | {"event_id": None} == {
            "event_id": None,
            "order_token": placed["order_token"],
            "status": "paid",
            "outcome": "paid_waiting",
        }
        assert (await staff.post("/api/guest/reconcile")).status_code == 403  # admins only
        assert (await staff.post(f"/api/shifts/{sid}/resume")).status_code == 200
        assert (await admin.post("/api/guest/reconcile")).json() == {"queued": 1, "expired": 0, "rejected": 0}
        (created,) = await events_until(tablet, lambda e: e["event"] == "ticket.created")
        assert created["data"]["source"] == "guest"
        view = (await guest.get(f"/api/guest/orders/{placed['order_token']}")).json()
        assert view["status"] == "paid" and view["number"] == created["data"]["number"]
        await tablet.close()


@pytest.mark.hub(payment_webhook_secret=SECRET, payment_hold_s=0.0, guest_reconcile_s=0.05)
async def test_the_periodic_reconcile_expires_holds_without_anyone_asking(server: RunningServer) -> None:
    async with server.client(await server.token("chef")) as staff, server.client() as guest:
        sid = await open_shift(staff)
        await set_stock(staff, sid, {"item_id": TACO, "stock": 2})
        placed = (await guest_order(guest, sid, (TACO, 2))).json()

        async def expired() -> bool:
            view = (await guest.get(f"/api/guest/orders/{placed['order_token']}")).json()
            return bool(view["status"] == "expired")

        await wait_until(expired)
        assert (await stock_of(staff, sid, TACO))["stock"] == 2
