"""A node dies between committing an order and publishing it: the ticket still reaches every tablet, once.

Two hub processes share Postgres and Redis. Node B runs with ``HUB_FAULT=exit-after-commit``: it
commits the order (and its event, in the outbox) and exits before publishing. Node A's relay
finds the orphaned event and publishes it; the POS's retry on A with the same Idempotency-Key is
answered from the stored order and doubles nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import httpx
import pytest

from app.settings import Settings
from tests.support.kitchen import open_shift, order, subscribe
from tests.support.nodes import hub_process
from tests.support.server import recv
from tests.support.timing import MS, wait_until

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

ORDER = {"items": [{"item_id": 8, "qty": 1}]}


async def _events(ws: Any, count: int, timeout: float = 10_000 * MS) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while len(frames) < count:
            frame = await recv(ws, timeout)
            assert frame["type"] == "event", frame
            frames.append(frame)
    return frames


async def test_an_order_committed_by_a_node_that_died_reaches_tablets_exactly_once(
    cluster_settings: Settings,
) -> None:
    async with (
        hub_process(replace(cluster_settings, node_id="a")) as a,
        hub_process(replace(cluster_settings, node_id="b"), HUB_FAULT="exit-after-commit") as b,
    ):
        token = await a.token("manager")
        async with a.client(token) as http_a, b.client(token) as http_b:
            shift_id = await open_shift(http_a)
            tablet = await a.as_user("chef")
            top = await subscribe(tablet, f"kds:{shift_id}")

            key = {"Idempotency-Key": "pos-7-order-1"}
            with pytest.raises(httpx.TransportError):  # B committed, then died without answering
                await http_b.post(f"/api/shifts/{shift_id}/orders", json=ORDER, headers=key)
            await wait_until(lambda: b.proc.returncode is not None, timeout=5000 * MS)

            (created,) = await _events(tablet, 1)  # published by A's relay: B is gone
            assert created["event"] == "ticket.created" and created["seq"] == top["seq"] + 1

            retry = await http_a.post(f"/api/shifts/{shift_id}/orders", json=ORDER, headers=key)
            assert retry.status_code == 201, retry.text
            assert retry.headers["idempotent-replayed"] == "true"
            assert retry.json()["id"] == created["data"]["id"]

            following = await order(http_a, shift_id, (8, 1))
            (nxt,) = await _events(tablet, 1)  # the next event is the next order: nothing doubled
            assert nxt["data"]["id"] == following.json()["id"] and nxt["seq"] == top["seq"] + 2
            snapshot = (await http_a.get(f"/api/shifts/{shift_id}/kds")).json()
            assert [t["id"] for t in snapshot["tickets"]] == [created["data"]["id"], following.json()["id"]]
            assert snapshot["seq"] == top["seq"] + 2
