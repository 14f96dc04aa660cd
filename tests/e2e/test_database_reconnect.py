"""Connections the database ended (a restart, a failover, an operator's pg_terminate_backend).

The pools do not ping a connection at every checkout (a round trip per request, inside a shift's
lock for every order): a connection found dead is discarded with every older one, the request that
found it answers 503 with ``Retry-After``, and the next one runs on a fresh connection.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy import make_url, text

from app.db import Database, is_sqlite
from tests.support.kitchen import TACO, open_shift, order
from tests.support.server import RunningServer


async def test_orders_go_on_after_the_database_ended_every_connection(server: RunningServer) -> None:
    if is_sqlite(server.settings.database_url):
        pytest.skip("SQLite has no server to end connections")
    chef = await server.token("chef")
    async with server.client(chef) as http:
        sid = await open_shift(http)
        for _ in range(3):
            assert (await order(http, sid, (TACO, 1))).status_code == 201
        assert (await http.get(f"/api/shifts/{sid}/kds")).status_code == 200  # both pools hold connections now
        name = make_url(server.settings.database_url).database
        admin = Database(server.settings.database_url)
        try:
            async with admin.engine.connect() as conn:
                ended = await conn.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                        " WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
                assert ended.scalar_one() >= 2  # the hub's request and lock connections
        finally:
            await admin.close()
        placed = await _retrying(lambda: order(http, sid, (TACO, 1)))
        snapshot = await _retrying(lambda: http.get(f"/api/shifts/{sid}/kds"))
    assert placed.status_code == 201 and len(snapshot.json()["tickets"]) == 4


async def _retrying(call: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
    """The answer once it is not a 503; a 503 must say when to retry, and come at most once per pool."""
    for _ in range(3):
        response = await call()
        if response.status_code != 503:
            return response
        assert response.headers.get("Retry-After"), response.text
    raise AssertionError(f"still 503 after 3 attempts: {response.text}")
