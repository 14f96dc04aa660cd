"""A node dies between committing a guest's payment and publishing it: the ticket still reaches the tablet, once.

Node B runs with ``HUB_FAULT=exit-after-commit``: it commits the payment, the ticket and their
events (outbox) and exits before publishing. Node A's relay publishes them; the provider's retry
of the same event (to a restarted B) is a replay and doubles nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import httpx
import pytest

from app.settings import Settings
from tests.support.guest import SECRET, guest_order, guest_socket, pay
from tests.support.kitchen import LEMONADE, open_shift, order, subscribe
from tests.support.nodes import hub_process
from tests.support.server import recv
from tests.support.timing import MS, wait_until

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


async def _events(ws: Any, count: int, timeout: float = 10_000 * MS) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while len(frames) < count:
            frame = await recv(ws, timeout)
            assert frame["type"] == "event", frame
            frames.append(frame)
    return frames


async def test_a_payment_committed_by_a_node_that_died_reaches_the_tablet_once(cluster_settings: Settings) -> None:
    secret = {"HUB_PAYMENT_WEBHOOK_SECRET": SECRET}
    async with (
        hub_process(replace(cluster_settings, node_id="a"), **secret) as a,
        hub_process(replace(cluster_settings, node_id="b"), HUB_FAULT="exit-after-commit", **secret) as b,
    ):
        token = await a.token("manager")
        async with a.client(token) as http_a, b.client() as http_b:
            shift_id = await open_shift(http_a)
            tablet = await a.as_user("chef")
            top = await subscribe(tablet, f"kds:{shift_id}")
            placed = (await guest_order(http_a, shift_id, (LEMONADE, 1))).json()
            guest, _ = await guest_socket(a, placed["order_token"])
            await subscribe(guest, f"order:{placed['order_token']}")

            with pytest.raises(httpx.TransportError):  # B committed, then died without answering
                await pay(http_b, placed["order_token"], placed["amount_cents"], event_id="evt_crash")
            await wait_until(lambda: b.proc.returncode is not None, timeout=5000 * MS)

            (created,) = await _events(tablet, 1)  # published by A's relay: B is gone
            assert created["event"] == "ticket.created" and created["seq"] == top["seq"] + 1
            assert created["data"]["source"] == "guest"
            (paid,) = await _events(guest, 1)
            assert paid["event"] == "order.paid" and paid["data"]["number"] == created["data"]["number"]

        async with hub_process(replace(cluster_settings, node_id="b2"), **secret) as b2, b2.client() as http_b2:
            retry = await pay(http_b2, placed["order_token"], placed["amount_cents"], event_id="evt_crash")
            assert retry.status_code == 200 and retry.json()["outcome"] == "replayed"
            async with a.client(token) as http_a:
                following = await order(http_a, shift_id, (LEMONADE, 1))
                (nxt,) = await _events(tablet, 1)  # the next event is the next order: nothing doubled
                assert nxt["data"]["id"] == following.json()["id"] and nxt["seq"] == top["seq"] + 2
                snapshot = (await http_a.get(f"/api/shifts/{shift_id}/kds")).json()
                assert [t["id"] for t in snapshot["tickets"]] == [created["data"]["id"], following.json()["id"]]
        await guest.close()
        await tablet.close()
