"""Placing orders: prices from the menu, validation, ownership, the 409 codes, Idempotency-Key."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.kitchen import CURRY, FRIES, PASTOR, TACO, events_until, open_shift, order, set_stock, stock_of
from tests.support.kitchen import subscribe as sub
from tests.support.server import RunningServer


async def test_order_is_priced_from_the_menu_numbered_and_published(server: RunningServer) -> None:
    token = await server.token("chef")
    async with server.client(token) as http:
        sid = await open_shift(http)
        ws = await server.connect(token)
        await sub(ws, f"kds:{sid}")
        body = {
            "items": [
                {"item_id": TACO, "qty": 2, "modifiers": ["no onion"], "price_cents": 1},  # a client price is refused
            ]
        }
        assert (await http.post(f"/api/shifts/{sid}/orders", json=body)).status_code == 422
        first = await order(http, sid, (TACO, 2), (FRIES, 1), customer_name="Ada", note="extra napkins")
        second = await order(http, sid, (PASTOR, 1))
        assert first.status_code == 201 and second.status_code == 201
        ticket = first.json()
        events = await events_until(ws, lambda e: e["data"]["number"] == 2)
        detail = (await http.get(f"/api/orders/{ticket['id']}")).json()
        await ws.close()
    assert ticket["number"] == 1 and second.json()["number"] == 2
    assert ticket["total_cents"] == 2 * 450 + 350 and ticket["status"] == "new" and ticket["held"] is False
    assert [(i["item_id"], i["name"], i["qty"], i["station"]) for i in ticket["items"]] == [
        (TACO, "Carne asada taco", 2, "grill"),
        (FRIES, "Fries", 1, "fryer"),
    ]
    assert (ticket["customer_name"], ticket["note"]) == ("Ada", "extra napkins")
    assert [(e["event"], e["data"]) for e in events] == [
        ("ticket.created", ticket),
        ("ticket.created", second.json()),
    ]
    assert detail == ticket


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"items": []}, 422, "items"),
        ({"items": [{"item_id": TACO, "qty": -1}]}, 422, "qty"),
        ({"items": [{"item_id": TACO, "qty": 0}]}, 422, "qty"),
        ({"items": [{"item_id": TACO, "qty": "2"}]}, 422, "qty"),
        ({"items": [{"item_id": 9999, "qty": 1}]}, 422, "9999"),
        ({"items": [{"item_id": CURRY, "qty": 1}]}, 422, str(CURRY)),  # truck 2's menu
        ({"items": [{"item_id": TACO, "qty": 1}] * 10_000}, 422, "items"),
        ({"items": [{"item_id": TACO, "qty": 1, "modifiers": ["x" * 65]}]}, 422, "modifiers"),
        ({"lines": []}, 422, "items"),
    ],
)
async def test_bad_orders_are_refused_and_write_nothing(
    server: RunningServer, body: dict[str, object], status: int, fragment: str
) -> None:
    async with server.client(await server.token("chef")) as http:
        sid = await open_shift(http)
        await set_stock(http, sid, {"item_id": TACO, "stock": 5})
        refused = await http.post(f"/api/shifts/{sid}/orders", json=body)
        assert refused.status_code == status, refused.text
        error = refused.json()["error"]
        assert error["code"] == "bad_request" and fragment in str(error)
        assert (await http.post(f"/api/shifts/{sid}/orders", content=b"{not json")).status_code == 400
        assert (await stock_of(http, sid, TACO))["stock"] == 5
        assert (await http.get(f"/api/shifts/{sid}/kds")).json()["tickets"] == []
        assert (await order(http, sid, (TACO, 1))).json()["number"] == 1  # no number was used up


async def test_orders_respect_truck_ownership(server: RunningServer) -> None:
    async with server.client(await server.token("chef")) as chef:
        sid = await open_shift(chef)
        placed = (await order(chef, sid, (TACO, 1))).json()
    async with server.client(await server.token("cook2")) as cook2:
        for response in (
            await order(cook2, sid, (TACO, 1)),
            await cook2.get(f"/api/shifts/{sid}/kds"),
            await cook2.get(f"/api/shifts/{sid}/menu"),
            await cook2.get(f"/api/orders/{placed['id']}"),
            await cook2.post(f"/api/orders/{placed['id']}/advance", json={"to": "in_progress"}),
            await cook2.patch(f"/api/shifts/{sid}/inventory", json={"items": [{"item_id": TACO, "stock": 1}]}),
        ):
            assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    async with server.client(await server.token("driver1")) as driver:
        assert (await order(driver, sid, (TACO, 1))).status_code == 403
    async with server.client() as anonymous:
        assert (await order(anonymous, sid, (TACO, 1))).status_code == 401
    async with server.client(await server.token("manager")) as manager:
        assert (await order(manager, sid, (TACO, 1))).status_code == 201
        assert (await order(manager, 12345, (TACO, 1))).status_code == 404


async def test_paused_and_closed_shifts_do_not_accept_orders(server: RunningServer) -> None:
    async with server.client(await server.token("chef")) as http:
        sid = await open_shift(http)
        await http.post(f"/api/shifts/{sid}/pause")
        paused = await order(http, sid, (TACO, 1))
        assert paused.status_code == 409 and paused.json()["error"]["code"] == "shift_not_accepting"
        await http.post(f"/api/shifts/{sid}/resume")
        assert (await order(http, sid, (TACO, 1))).status_code == 201
        await http.post(f"/api/shifts/{sid}/checkout")
        closed = await order(http, sid, (TACO, 1))
        assert closed.status_code == 409 and closed.json()["error"]["code"] == "shift_not_accepting"


async def test_throttle_refuses_orders_over_the_slot(server: RunningServer) -> None:
    async with server.client(await server.token("chef")) as http:
        sid = await open_shift(http, max_orders_per_slot=3, slot_minutes=240)
        results = await asyncio.gather(*(order(http, sid, (TACO, 1)) for _ in range(5)))
        assert sorted(r.status_code for r in results) == [201, 201, 201, 409, 409]
        refused = next(r for r in results if r.status_code == 409)
        assert refused.json()["error"]["code"] == "throttled" and int(refused.headers["retry-after"]) >= 1
        first = next(r for r in results if r.status_code == 201).json()
        await http.post(f"/api/orders/{first['id']}/cancel", json={"reason": "customer left"})
        assert (await order(http, sid, (TACO, 1))).status_code == 201  # a cancelled order frees its place


async def test_idempotency_key_replays_the_first_answer(server: RunningServer) -> None:
    async with server.client(await server.token("chef")) as http:
        sid = await open_shift(http)
        await set_stock(http, sid, {"item_id": TACO, "stock": 10})
        headers = {"Idempotency-Key": "pos-7-0042"}
        body = {"items": [{"item_id": TACO, "qty": 3}], "customer_name": "Grace"}
        first = await http.post(f"/api/shifts/{sid}/orders", json=body, headers=headers)
        again = await http.post(f"/api/shifts/{sid}/orders", json=body, headers=headers)
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
        assert (await stock_of(http, sid, TACO))["stock"] == 7  # decremented once
        other = await http.post(f"/api/shifts/{sid}/orders", json={**body, "customer_name": "Bob"}, headers=headers)
        assert other.status_code == 409 and other.json()["error"]["code"] == "conflict"
        race = {"Idempotency-Key": "race-1"}
        url = f"/api/shifts/{sid}/orders"
        racing = await asyncio.gather(*(http.post(url, json=body, headers=race) for _ in range(6)))
        assert {r.status_code for r in racing} == {201} and len({r.json()["id"] for r in racing}) == 1
        assert (await stock_of(http, sid, TACO))["stock"] == 4
        tickets = (await http.get(f"/api/shifts/{sid}/kds")).json()["tickets"]
        assert [t["number"] for t in tickets] == [1, 2]
        bad_key = await http.post(f"/api/shifts/{sid}/orders", json=body, headers={"Idempotency-Key": "x" * 300})
        assert bad_key.status_code == 400
