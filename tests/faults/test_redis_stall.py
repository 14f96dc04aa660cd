"""Redis stalls longer than the client's timeout while orders flow: no ticket is lost or doubled.

``DEBUG SLEEP`` freezes Redis past ``socket_timeout``: the publish in flight times out on the hub
(the order is committed, answered ``Hub-Delivery: pending``) yet Redis runs it when it wakes. The
relay then publishes the same outbox row again, and the broker's repeat guard skips it: every
tablet sees each ticket once, in order, with no gap.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from app.settings import Settings
from tests.support.kitchen import events_until, open_shift, order, subscribe
from tests.support.redis_server import private_redis
from tests.support.server import run_server
from tests.support.timing import MS, wait_until

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

STALL_S = 7  # above the hub's Redis socket_timeout (5 s)


async def test_a_redis_stall_past_the_timeout_doubles_no_ticket(settings: Settings, tmp_path: Path) -> None:
    async with private_redis(tmp_path, persistent=False) as redis:
        node = replace(settings, broker_url=redis.url, redis_namespace="stall")
        async with run_server(node) as server:
            async with server.client(await server.token("manager")) as http:
                shift_id = await open_shift(http, max_orders_per_slot=10_000)
                tablet = await server.as_user("chef")
                top = await subscribe(tablet, f"kds:{shift_id}")
                accepted: list[int] = []
                pending: list[int] = []
                stop = asyncio.Event()

                async def kitchen(client: httpx.AsyncClient) -> None:
                    while not stop.is_set():
                        response = await order(client, shift_id, (8, 1))
                        assert response.status_code == 201, response.text
                        accepted.append(response.json()["id"])
                        if response.headers.get("hub-delivery") == "pending":
                            pending.append(response.json()["id"])
                        await asyncio.sleep(50 * MS)

                producing = asyncio.create_task(kitchen(http))
                await wait_until(lambda: len(accepted) >= 5, timeout=10_000 * MS)
                admin = Redis.from_url(redis.url, socket_timeout=STALL_S + 30)
                try:
                    await admin.execute_command("DEBUG", "SLEEP", STALL_S)  # the kitchen keeps ordering meanwhile
                finally:
                    await admin.aclose()
                await wait_until(lambda: len(pending) >= 1, timeout=20_000 * MS)
                count = len(accepted)
                await wait_until(lambda: len(accepted) >= count + 5, timeout=20_000 * MS)
                stop.set()
                await producing

                frames = await events_until(tablet, lambda f: f["data"]["id"] == max(accepted), timeout=20_000 * MS)
                created = [f for f in frames if f["event"] == "ticket.created"]
                assert [f["data"]["id"] for f in created] == accepted, "a ticket lost, doubled or out of order"
                assert [f["seq"] for f in created] == list(range(top["seq"] + 1, top["seq"] + 1 + len(accepted)))
                with contextlib.suppress(TimeoutError):  # and nothing after the last one (a late duplicate)
                    extra = await events_until(tablet, lambda f: True, timeout=1500 * MS)
                    pytest.fail(f"unexpected event after the last order: {extra}")
