"""The KDS snapshot a kitchen's tablets refetch together: exact for its position, served again while it holds."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from app.db import Database, is_sqlite
from tests.support.kitchen import TACO, events_until, open_shift, order
from tests.support.kitchen import subscribe as sub
from tests.support.server import RunningServer
from tests.support.timing import MS, wait_until


async def test_the_snapshot_follows_every_event_and_keeps_its_access_check(server: RunningServer) -> None:
    chef, other = await server.token("chef"), await server.token("cook2")  # cook2: staff of truck 2
    async with server.client(chef) as http, server.client(other) as stranger:
        sid = await open_shift(http)
        first = (await http.get(f"/api/shifts/{sid}/kds")).json()
        assert first["tickets"] == []
        assert (await http.get(f"/api/shifts/{sid}/kds")).json() == first  # nothing happened: the same snapshot
        assert (await stranger.get(f"/api/shifts/{sid}/kds")).status_code == 403  # served from cache or not
        oid = (await order(http, sid, (TACO, 1))).json()["id"]
        placed = (await http.get(f"/api/shifts/{sid}/kds")).json()
        assert [t["id"] for t in placed["tickets"]] == [oid] and placed["seq"] > first["seq"]
        assert (await http.post(f"/api/orders/{oid}/advance", json={"to": "in_progress"})).status_code == 200
        moved = (await http.get(f"/api/shifts/{sid}/kds")).json()
        assert [t["status"] for t in moved["tickets"]] == ["in_progress"] and moved["seq"] > placed["seq"]
        assert (await stranger.get(f"/api/shifts/{sid}/kds")).status_code == 403


async def test_a_kitchen_refetching_together_needs_the_tickets_once(server: RunningServer) -> None:
    """While nothing happens on the shift, a refetch is served without reading the tickets again: here, while
    another transaction holds the orders table so no one can read it (PostgreSQL's ACCESS EXCLUSIVE)."""
    if is_sqlite(server.settings.database_url):
        pytest.skip("SQLite cannot lock one table against readers")
    chef = await server.token("chef")
    async with server.client(chef) as http:
        sid = await open_shift(http)
        await order(http, sid, (TACO, 1))
        taken = (await http.get(f"/api/shifts/{sid}/kds")).json()
        db = Database(server.settings.database_url)
        try:
            async with db.engine.connect() as conn, conn.begin():
                await conn.execute(text("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE"))
                again = await asyncio.wait_for(
                    asyncio.gather(*(http.get(f"/api/shifts/{sid}/kds") for _ in range(8))), 5
                )
        finally:
            await db.close()
    assert [r.status_code for r in again] == [200] * 8 and all(r.json() == taken for r in again)


STALL_S = 5.0


@pytest.mark.hub(fault=f"stall-after-commit:{STALL_S:g}")  # every write waits this long between commit and publish
async def test_a_snapshot_between_a_commit_and_its_publish_shows_the_ticket_once(server: RunningServer) -> None:
    """A write publishes after releasing the shift's lock, so the next one need not wait for the broker.

    A snapshot taken while a committed ticket still waits for its publish must not wait for it either,
    and must publish it first: its seq then covers the ticket, and a tablet subscribing ``since`` it
    gets the next ticket, never this one again.
    """
    chef = await server.token("chef")
    async with server.client(chef) as http:
        sid = await open_shift(http)
        ws = await server.connect(chef)
        placing = asyncio.create_task(order(http, sid, (TACO, 1)))

        async def committed() -> bool:
            return (await http.get(f"/api/shifts/{sid}/summary")).json()["counts"]["new"] == 1

        await wait_until(committed, 4 * STALL_S * 1000 * MS)
        snapshot = (await http.get(f"/api/shifts/{sid}/kds")).json()
        assert not placing.done(), "the snapshot waited for the stalled write's publish"
        first = (await placing).json()
        assert [t["id"] for t in snapshot["tickets"]] == [first["id"]]
        reply = await sub(ws, f"kds:{sid}", since={"seq": snapshot["seq"], "epoch": snapshot["epoch"]})
        assert reply["recovered"] is True and reply["replayed"] == 0, reply
        second = (await order(http, sid, (TACO, 1))).json()
        created = await events_until(ws, lambda e: e["event"] == "ticket.created", 4 * STALL_S * 1000 * MS)
        await ws.close()
    assert [e["data"]["id"] for e in created] == [second["id"]]
    assert created[0]["seq"] == snapshot["seq"] + 1
