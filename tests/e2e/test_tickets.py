"""A ticket's life on the KDS: transitions, hold/resume, cancel with restock, bulk complete, snapshot + stream."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.support.kitchen import FRIES, TACO, events_until, open_shift, order, set_stock, stock_of
from tests.support.kitchen import subscribe as sub
from tests.support.server import RunningServer, command, recv


async def _post(http: httpx.AsyncClient, order_id: int, action: str, **body: Any) -> httpx.Response:
    return await http.post(f"/api/orders/{order_id}/{action}", json=body or None)


async def test_ticket_moves_through_the_kitchen_live(server: RunningServer) -> None:
    token = await server.token("chef")
    async with server.client(token) as http:
        sid = await open_shift(http)
        ws = await server.connect(token)
        await sub(ws, f"kds:{sid}")
        oid = (await order(http, sid, (TACO, 1))).json()["id"]
        steps = [
            ("hold", {}),
            ("resume", {}),
            ("advance", {"to": "in_progress"}),
            ("hold", {}),
            ("resume", {}),
            ("advance", {"to": "ready"}),
            ("advance", {"to": "completed"}),
        ]
        answers = []
        for action, body in steps:
            response = await _post(http, oid, action, **body)
            assert response.status_code == 200, (action, response.text)
            answers.append(response.json())
        events = await events_until(ws, lambda e: e["data"]["status"] == "completed")
        kds = (await http.get(f"/api/shifts/{sid}/kds")).json()
        await ws.close()
    assert [(a["status"], a["held"]) for a in answers] == [
        ("new", True),
        ("new", False),
        ("in_progress", False),
        ("in_progress", True),
        ("in_progress", False),
        ("ready", False),
        ("completed", False),
    ]
    assert [e["event"] for e in events] == [
        "ticket.created",
        "ticket.held",
        "ticket.resumed",
        "ticket.advanced",
        "ticket.held",
        "ticket.resumed",
        "ticket.advanced",
        "ticket.advanced",
    ]
    assert [e["data"] for e in events[1:]] == answers  # each event carries the full ticket
    final = answers[-1]
    assert final["started_at"] and final["ready_at"] and final["completed_at"]
    assert kds["tickets"] == [] and kds["seq"] == events[-1]["seq"]


async def test_invalid_transitions_change_nothing(server: RunningServer) -> None:
    async with server.client(await server.token("chef")) as http:
        sid = await open_shift(http)
        oid = (await order(http, sid, (TACO, 1))).json()["id"]

        async def refused(action: str, **body: Any) -> None:
            before = (await http.get(f"/api/orders/{oid}")).json()
            response = await _post(http, oid, action, **body)
            assert response.status_code == 409, (action, body, response.text)
            assert response.json()["error"]["code"] == "invalid_transition"
            assert (await http.get(f"/api/orders/{oid}")).json() == before

        await refused("advance", to="ready")  # skipping in_progress
        await refused("advance", to="completed")
        await refused("advance", to="new")
        await refused("resume")  # not held
        await _post(http, oid, "hold")
        await refused("hold")  # already held
        await refused("advance", to="in_progress")  # held tickets do not move
        await _post(http, oid, "resume")
        await _post(http, oid, "advance", to="in_progress")
        await refused("advance", to="in_progress")
        await _post(http, oid, "advance", to="ready")
        await refused("hold")  # only new or in-progress tickets are held
        await _post(http, oid, "advance", to="completed")
        await refused("cancel", reason="too late")
        await refused("advance", to="cancelled")
        bad = await _post(http, oid, "advance", to="eaten")
        assert bad.status_code == 422
        no_reason = await http.post(f"/api/orders/{oid}/cancel", json={})
        assert no_reason.status_code == 422
        assert (await _post(http, 999_999, "hold")).status_code == 404
        other = (await order(http, sid, (TACO, 1))).json()["id"]
        assert (await _post(http, other, "cancel", reason="dropped")).status_code == 200
        for action, body in [("advance", {"to": "in_progress"}), ("hold", {}), ("cancel", {"reason": "again"})]:
            response = await _post(http, other, action, **body)
            assert response.status_code == 409 and response.json()["error"]["code"] == "invalid_transition"


async def test_cancel_restores_stock_and_announces_the_restock(server: RunningServer) -> None:
    token = await server.token("chef")
    async with server.client(token) as http:
        sid = await open_shift(http)
        await set_stock(http, sid, {"item_id": TACO, "stock": 2}, {"item_id": FRIES, "stock": 10})
        ws = await server.connect(token)
        await sub(ws, f"stock:{sid}")
        oid = (await order(http, sid, (TACO, 2), (FRIES, 1))).json()["id"]
        assert (await stock_of(http, sid, TACO))["sold_out"] is True
        cancelled = await _post(http, oid, "cancel", reason="customer changed their mind")
        assert cancelled.status_code == 200
        ticket = cancelled.json()
        events = await events_until(ws, lambda e: e["event"] == "stock.restocked")
        await ws.close()
        assert ((await stock_of(http, sid, TACO))["stock"], (await stock_of(http, sid, FRIES))["stock"]) == (2, 10)
    assert ticket["status"] == "cancelled" and ticket["cancel_reason"] == "customer changed their mind"
    assert [(e["event"], e["data"]["item_id"], e["data"]["remaining"]) for e in events] == [
        ("stock.sold_out", TACO, 0),
        ("stock.restocked", TACO, 2),
    ]


async def test_advance_ready_completes_every_ready_ticket_and_summary_counts(server: RunningServer) -> None:
    token = await server.token("chef")
    async with server.client(token) as http:
        sid = await open_shift(http)
        ids = [(await order(http, sid, (TACO, 1), (FRIES, 1))).json()["id"] for _ in range(4)]
        for oid in ids[:3]:
            await _post(http, oid, "advance", to="in_progress")
            await _post(http, oid, "advance", to="ready")
        await _post(http, ids[3], "cancel", reason="no show")
        ws = await server.connect(token)
        await sub(ws, f"kds:{sid}")
        done = (await http.post(f"/api/shifts/{sid}/advance-ready")).json()["items"]
        events = [await recv(ws) for _ in range(3)]
        assert (await http.post(f"/api/shifts/{sid}/advance-ready")).json()["items"] == []
        summary = (await http.get(f"/api/shifts/{sid}/summary")).json()
        await ws.close()
    assert sorted(t["id"] for t in done) == sorted(ids[:3]) and {t["status"] for t in done} == {"completed"}
    assert [(e["event"], e["data"]["status"]) for e in events] == [("ticket.advanced", "completed")] * 3
    assert summary["counts"] == {"new": 0, "in_progress": 0, "ready": 0, "completed": 3, "cancelled": 1}
    assert summary["revenue_cents"] == 3 * (450 + 350)
    assert summary["prepared"] == 3 and summary["avg_prep_seconds"] >= 0 and summary["p90_prep_seconds"] >= 0


@pytest.mark.hub(commands_per_s=100_000)  # each tablet resubscribes as fast as it can
async def test_snapshot_then_since_misses_nothing_and_repeats_nothing(server: RunningServer) -> None:
    """Tablets load the KDS snapshot and subscribe ``since`` it, again and again, while orders keep flowing.

    After each snapshot the replayed events must continue it exactly: seq gap-free from the
    snapshot's seq, and no ``ticket.created`` for a ticket the snapshot already had.
    """
    token = await server.token("chef")
    async with server.client(token) as http:
        sid = await open_shift(http, max_orders_per_slot=1000)
        placed: list[int] = []
        kitchens_done = asyncio.Event()

        async def kitchen(orders: int) -> None:
            for n in range(orders):
                ticket = (await order(http, sid, (TACO, 1))).json()
                placed.append(ticket["id"])
                if n % 3 == 0:
                    await _post(http, ticket["id"], "advance", to="in_progress")

        async def kitchens() -> None:
            await asyncio.gather(*(kitchen(40) for _ in range(3)))
            kitchens_done.set()

        async def tablet() -> tuple[int, list[int], dict[int, dict[str, Any]]]:
            ws = await server.connect(token)
            cycles, duplicates = 0, []
            view: dict[int, dict[str, Any]] = {}
            while True:
                last = kitchens_done.is_set()
                snapshot = (await http.get(f"/api/shifts/{sid}/kds")).json()
                view = {t["id"]: t for t in snapshot["tickets"]}
                reply = await sub(ws, f"kds:{sid}", since={"seq": snapshot["seq"], "epoch": snapshot["epoch"]})
                assert reply["recovered"] is True, reply
                expect = snapshot["seq"] + 1
                for _ in range(reply["replayed"]):
                    frame = await recv(ws)
                    assert frame["type"] == "event" and frame["seq"] == expect, (frame, expect)
                    expect += 1
                    if frame["event"] == "ticket.created" and frame["data"]["id"] in view:
                        duplicates.append(frame["data"]["id"])
                    view[frame["data"]["id"]] = frame["data"]
                done = await command(ws, {"type": "unsubscribe", "id": "u", "topic": f"kds:{sid}"})
                assert done["type"] == "unsubscribed", done
                cycles += 1
                if last:
                    break
            await ws.close()
            return cycles, duplicates, view

        results = await asyncio.gather(kitchens(), *(tablet() for _ in range(3)))
        truth = {t["id"]: t for t in (await http.get(f"/api/shifts/{sid}/kds")).json()["tickets"]}
    assert len(placed) == 120
    for cycles, duplicates, view in results[1:]:  # type: ignore[misc]
        assert cycles >= 3 and duplicates == []
        assert {i: t["status"] for i, t in view.items() if t["status"] != "completed"} == {
            i: t["status"] for i, t in truth.items()
        }
