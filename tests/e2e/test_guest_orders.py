"""Guest ordering (protocol.md §4.3): order ahead, stock held, a signed payment puts the ticket on the KDS once."""

from __future__ import annotations

import time

import pytest

from tests.support.guest import SECRET, guest_order, pay
from tests.support.kitchen import FRIES, LEMONADE, TACO, events_until, open_shift, set_stock, stock_of
from tests.support.kitchen import subscribe as sub
from tests.support.server import RunningServer

pytestmark = pytest.mark.hub(payment_webhook_secret=SECRET)


async def test_guest_pays_and_the_ticket_reaches_the_tablet_once(server: RunningServer) -> None:
    async with server.client(await server.token("chef")) as staff, server.client() as guest:
        sid = await open_shift(staff)
        await set_stock(staff, sid, {"item_id": TACO, "stock": 10})
        tablet = await server.as_user("chef")
        await sub(tablet, f"kds:{sid}")
        placed = await guest_order(guest, sid, (TACO, 2), (FRIES, 1), phone="+15550001111")
        assert placed.status_code == 201, placed.text
        body = placed.json()
        assert body["status"] == "pending_payment" and body["amount_cents"] == 2 * 450 + 350
        assert body["currency"] == "USD" and len(body["order_token"]) >= 32 and body["hold_expires_at"]
        assert (await stock_of(staff, sid, TACO))["stock"] == 8  # held
        assert (await staff.get(f"/api/shifts/{sid}/kds")).json()["tickets"] == []  # not on the KDS yet
        pending = (await guest.get(f"/api/guest/orders/{body['order_token']}")).json()
        assert pending["status"] == "pending_payment" and pending["number"] is None

        paid = await pay(guest, body["order_token"], body["amount_cents"], event_id="evt_1")
        assert paid.status_code == 200, paid.text
        assert paid.json()["outcome"] == "queued" and paid.json()["status"] == "paid"
        (created,) = await events_until(tablet, lambda e: e["event"] == "ticket.created")
        ticket = created["data"]
        assert ticket["source"] == "guest" and ticket["customer_name"] == "Grace" and ticket["number"] == 1
        assert ticket["total_cents"] == body["amount_cents"] and [i["qty"] for i in ticket["items"]] == [2, 1]

        again = await pay(guest, body["order_token"], body["amount_cents"], event_id="evt_1")
        assert again.status_code == 200 and again.json()["outcome"] == "replayed"
        kds = (await staff.get(f"/api/shifts/{sid}/kds")).json()
        assert [t["id"] for t in kds["tickets"]] == [ticket["id"]] and kds["seq"] == created["seq"]
        assert (await stock_of(staff, sid, TACO))["stock"] == 8  # the hold became the sale, not a second take
        view = (await guest.get(f"/api/guest/orders/{body['order_token']}")).json()
        assert view["status"] == "paid" and view["number"] == 1 and view["eta_s"] is not None
        assert view["amount_cents"] == body["amount_cents"] and len(view["items"]) == 2
        await tablet.close()


async def test_bad_payments_are_refused_clearly_and_change_nothing(server: RunningServer) -> None:
    async with server.client(await server.token("chef")) as staff, server.client() as guest:
        sid = await open_shift(staff)
        body = (await guest_order(guest, sid, (LEMONADE, 1))).json()
        token, amount = body["order_token"], body["amount_cents"]

        forged = await pay(guest, token, amount, secret="not-the-secret")
        assert forged.status_code == 401 and "signature" in forged.json()["error"]["message"]
        stale = await pay(guest, token, amount, at=int(time.time()) - 301)
        assert stale.status_code == 401 and "300" in stale.json()["error"]["message"]
        unsigned = await guest.post("/api/guest/payments/webhook", json={"event_id": "x"})
        assert unsigned.status_code == 401
        wrong = await pay(guest, token, amount + 1, event_id="evt_wrong")
        assert wrong.status_code == 409 and wrong.json()["error"]["code"] == "conflict"
        euros = await pay(guest, token, amount, currency="EUR", event_id="evt_eur")
        assert euros.status_code == 409
        unknown = await pay(guest, "no-such-token-000000000000000", amount)
        assert unknown.status_code == 404
        assert (await guest.get(f"/api/guest/orders/{token}")).json()["status"] == "pending_payment"
        assert (await staff.get(f"/api/shifts/{sid}/kds")).json()["tickets"] == []

        failed = await pay(guest, token, amount, status="failed", event_id="evt_failed")
        assert failed.status_code == 200 and failed.json()["outcome"] == "ignored"
        assert failed.json()["status"] == "pending_payment"
        # the refused event ids were not recorded: the real payment under the same id goes through once
        ok = await pay(guest, token, amount, event_id="evt_wrong")
        assert ok.status_code == 200 and ok.json()["outcome"] == "queued"
        replay = await pay(guest, token, amount, event_id="evt_wrong")
        assert replay.json()["outcome"] == "replayed"
        second = await pay(guest, token, amount, event_id="evt_other")  # a second charge: refund, no ticket
        assert second.status_code == 200 and second.json()["outcome"] == "duplicate"
        assert len((await staff.get(f"/api/shifts/{sid}/kds")).json()["tickets"]) == 1


async def test_guest_orders_are_validated_like_staff_orders(server: RunningServer) -> None:
    async with server.client(await server.token("chef")) as staff, server.client() as guest:
        sid = await open_shift(staff, max_orders_per_slot=2)
        await set_stock(staff, sid, {"item_id": TACO, "stock": 1})
        price = await guest.post(
            f"/api/guest/shifts/{sid}/orders",
            json={"items": [{"item_id": TACO, "qty": 1, "price_cents": 1}], "customer_name": "x"},
        )
        assert price.status_code == 422
        assert (await guest_order(guest, sid, (TACO, 2))).json()["error"]["code"] == "sold_out"
        assert (await guest_order(guest, sid, (9999, 1))).status_code == 422
        assert (await guest_order(guest, 9999, (TACO, 1))).status_code == 404
        first = await guest_order(guest, sid, (LEMONADE, 1), key="phone-1")
        replay = await guest_order(guest, sid, (LEMONADE, 1), key="phone-1")
        assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
        assert replay.json() == first.json()
        assert (await guest_order(guest, sid, (FRIES, 1), key="phone-1")).status_code == 409
        assert (await guest_order(guest, sid, (LEMONADE, 1))).status_code == 201
        throttled = await guest_order(guest, sid, (LEMONADE, 1))
        assert throttled.status_code == 409 and throttled.json()["error"]["code"] == "throttled"
        assert (await staff.post(f"/api/shifts/{sid}/pause")).status_code == 200
        paused = await guest_order(guest, sid, (LEMONADE, 1))
        assert paused.json()["error"]["code"] == "shift_not_accepting"


@pytest.mark.hub(payment_webhook_secret="")
async def test_without_a_webhook_secret_guest_payments_are_off(server: RunningServer) -> None:
    async with server.client(await server.token("chef")) as staff, server.client() as guest:
        sid = await open_shift(staff)
        off = await pay(guest, "whatever-token", 100)
        assert off.status_code == 503 and "HUB_PAYMENT_WEBHOOK_SECRET" in off.json()["error"]["message"]
        refused = await guest_order(guest, sid, (LEMONADE, 1))  # an order nobody could pay would only hold stock
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "unavailable"
        menu = (await guest.get(f"/api/guest/shifts/{sid}/menu")).json()
        assert menu["accepting_orders"] is False and "window" in menu["message"]
