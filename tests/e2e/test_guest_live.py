"""A guest's socket (protocol.md §2.1, §2.4): hello with the order token, order.* events, nothing else visible."""

from __future__ import annotations

import pytest
import websockets

from tests.support.guest import SECRET, guest_order, guest_socket, pay
from tests.support.kitchen import LEMONADE, TACO, events_until, open_shift
from tests.support.kitchen import subscribe as sub
from tests.support.server import RunningServer, closed_with, command, recv, send

pytestmark = pytest.mark.hub(payment_webhook_secret=SECRET)


async def test_the_guest_sees_paid_then_ready_and_the_tablet_gets_the_ticket_once(server: RunningServer) -> None:
    async with server.client(await server.token("chef")) as staff, server.client() as http:
        sid = await open_shift(staff)
        tablet = await server.as_user("chef")
        await sub(tablet, f"kds:{sid}")
        placed = (await guest_order(http, sid, (TACO, 1), (LEMONADE, 1))).json()
        token = placed["order_token"]
        guest, welcome = await guest_socket(server, token)
        assert welcome["type"] == "welcome" and welcome["user"] is None
        assert welcome["guest"] == {"order_token": token}
        await sub(guest, f"order:{token}")

        assert (await pay(http, token, placed["amount_cents"])).json()["outcome"] == "queued"
        (paid,) = await events_until(guest, lambda e: e["event"] == "order.paid")
        assert paid["data"]["order_token"] == token and paid["data"]["status"] == "paid"
        assert paid["data"]["number"] == 1 and isinstance(paid["data"]["eta_s"], int)
        (created,) = await events_until(tablet, lambda e: e["event"] == "ticket.created")
        order_id = created["data"]["id"]
        for to in ("in_progress", "ready"):
            moved = await staff.post(f"/api/orders/{order_id}/advance", json={"to": to})
            assert moved.status_code == 200, moved.text
        seen = await events_until(guest, lambda e: e["event"] == "order.ready")
        assert [(e["event"], e["data"]["status"]) for e in seen] == [
            ("order.in_progress", "in_progress"),
            ("order.ready", "ready"),
        ]
        assert seen[-1]["data"]["eta_s"] == 0
        assert (await staff.post(f"/api/shifts/{sid}/advance-ready")).status_code == 200
        (done,) = await events_until(guest, lambda e: e["event"] == "order.completed")
        assert done["data"]["number"] == 1
        assert (await http.get(f"/api/guest/orders/{token}")).json()["status"] == "completed"
        tickets = await events_until(tablet, lambda e: e["data"].get("status") == "completed")
        assert [e["event"] for e in tickets] == ["ticket.advanced"] * 3  # the ticket was created once
        await guest.close()
        await tablet.close()


async def test_a_guest_token_sees_its_order_and_nothing_else(server: RunningServer) -> None:
    async with server.client(await server.token("chef")) as staff, server.client() as http:
        sid = await open_shift(staff)
        mine = (await guest_order(http, sid, (LEMONADE, 1))).json()["order_token"]
        other = (await guest_order(http, sid, (LEMONADE, 1))).json()["order_token"]
        guest, _ = await guest_socket(server, mine)
        for topic in (f"kds:{sid}", f"stock:{sid}", f"shift:{sid}", f"order:{other}", "notice:1", "gps:fleet"):
            reply = await command(guest, {"type": "subscribe", "id": topic, "topic": topic})
            assert reply["type"] == "error" and reply["code"] == "forbidden", (topic, reply)
        cancel = await staff.post(f"/api/guest/orders/{mine}")  # no such write route
        assert cancel.status_code == 405
        await guest.close()

        # staff of the truck, managers and admins may follow an order; another truck's staff may not
        for user, allowed in (("chef", True), ("manager", True), ("admin", True), ("cook2", False)):
            ws = await server.as_user(user)
            reply = await command(ws, {"type": "subscribe", "id": 1, "topic": f"order:{mine}"})
            assert (reply["type"] == "subscribed") is allowed, (user, reply)
            await ws.close()

        # a phone that names itself is still not a registered device (guests are not users)
        phone = await websockets.connect(server.ws_url)
        await send(phone, {"type": "hello", "order_token": mine, "device": {"id": "phone-1", "kind": "other"}})
        assert (await recv(phone))["type"] == "welcome"
        assert (await command(phone, {"type": "subscribe", "id": 1, "topic": f"order:{mine}"}))["type"] == "subscribed"
        await phone.close()

        forged, welcome = await guest_socket(server, "x" * 32)
        assert welcome["type"] == "error" and welcome["code"] == "unauthorized"
        assert (await closed_with(forged))[0] == 4401


async def test_a_cancelled_guest_ticket_tells_the_guest(server: RunningServer) -> None:
    async with server.client(await server.token("chef")) as staff, server.client() as http:
        sid = await open_shift(staff)
        placed = (await guest_order(http, sid, (LEMONADE, 1))).json()
        token = placed["order_token"]
        guest, _ = await guest_socket(server, token)
        top = await sub(guest, f"order:{token}")
        await pay(http, token, placed["amount_cents"])
        (paid,) = await events_until(guest, lambda e: e["event"] == "order.paid")
        ticket = (await staff.get(f"/api/shifts/{sid}/kds")).json()["tickets"][0]
        held = await staff.post(f"/api/orders/{ticket['id']}/hold")  # not a status change: nothing for the guest
        assert held.status_code == 200
        cancelled = await staff.post(f"/api/orders/{ticket['id']}/cancel", json={"reason": "out of ice"})
        assert cancelled.status_code == 200
        (gone,) = await events_until(guest, lambda e: e["event"].startswith("order."))
        assert gone["event"] == "order.cancelled" and gone["data"]["status"] == "cancelled"
        assert gone["seq"] == paid["seq"] + 1 == top["seq"] + 2
        assert gone["data"]["eta_s"] is None
        assert (await http.get(f"/api/guest/orders/{token}")).json()["status"] == "cancelled"
        await guest.close()
