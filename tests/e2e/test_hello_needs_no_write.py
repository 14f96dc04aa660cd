"""A returning tablet's hello writes nothing before ``welcome``: its device row is written behind.

In a reconnect storm every hello used to write its device row first; on SQLite those writes queue
for the one writer and hellos waited seconds. Here the database refuses every write to ``devices``
while a known tablet says hello again: the welcome must come anyway, and the row must catch up once
the writes are allowed again.
"""

from __future__ import annotations

import asyncio

import httpx

from tests.support.db_locks import devices_locked
from tests.support.server import RunningServer
from tests.support.timing import wait_until

DEVICE = {"id": "tablet-storm", "kind": "kds", "app": "truckkds/2.3"}


async def _device(http: httpx.AsyncClient) -> dict[str, object] | None:
    items = (await http.get("/api/devices")).json()["items"]
    return items[0] if items else None


async def test_a_known_tablet_is_welcomed_while_device_writes_are_blocked(server: RunningServer) -> None:
    token = await server.token("chef")
    first = await server.connect(token, device=DEVICE)
    async with server.client(token) as http:

        async def registered() -> bool:
            return await _device(http) is not None

        await wait_until(registered)
        await first.close()

        async def offline() -> bool:
            row = await _device(http)
            return row is not None and row["online"] is False

        await wait_until(offline)
        async with devices_locked(server.settings.database_url):
            again = await asyncio.wait_for(server.connect(token, device=DEVICE), 8.0)  # welcome, no write awaited
            row = await _device(http)
            assert row is not None and row["online"] is False  # the online mark is still waiting for the lock

        async def online() -> bool:
            row = await _device(http)
            return row is not None and row["online"] is True

        await wait_until(online)  # written behind once writes are allowed again
        await again.close()
