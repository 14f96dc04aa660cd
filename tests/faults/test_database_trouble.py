"""Postgres becomes unreachable (a proxy the test controls stops answering): clear 503s, fast hellos,
open sockets unharmed, and no shift lock stranded by a node that lost the database while holding it."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.db import LOCK_IDLE_S, Database
from app.services.serial import SHIFT_LOCK_CLASS
from app.settings import Settings
from tests.support.kitchen import events_until, open_shift, order, subscribe
from tests.support.nodes import hub_process
from tests.support.proxy import Proxy, proxy
from tests.support.server import closed_with, command
from tests.support.timing import MS, wait_until

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def _through(settings: Settings, tunnel: Proxy) -> Settings:
    """The same database, reached through the proxy."""
    return replace(settings, database_url=settings.database_url.replace(":5432/", f":{tunnel.port}/"))


async def test_database_unreachable_means_503_fast_hello_failure_and_open_sockets_unharmed(
    cluster_settings: Settings,
) -> None:
    async with proxy(5432) as tunnel:
        assert ":5432/" in cluster_settings.database_url
        async with hub_process(replace(_through(cluster_settings, tunnel), node_id="n"), HUB_DB_TIMEOUT_S="2") as node:
            token = await node.token("manager")
            async with node.client(token) as http:
                shift_id = await open_shift(http)
                tablet = await node.as_user("chef")
                await subscribe(tablet, f"kds:{shift_id}")
                late_token = await node.token("chef")  # a session this node has not seen on a socket yet

                tunnel.pause()  # Postgres's answers stop arriving: a black hole, not a refusal
                started = time.monotonic()
                refused = await order(http, shift_id, (8, 1))
                assert refused.status_code == 503, refused.text
                assert refused.json()["error"]["code"] == "unavailable" and refused.headers["retry-after"]
                assert time.monotonic() - started < 15, "a write waited far longer than HUB_DB_TIMEOUT_S"

                started = time.monotonic()
                newcomer = await node.connect_raw(late_token)
                code, frames = await closed_with(newcomer, timeout=10_000 * MS)
                assert code == 1011, (code, frames)  # reconnect shortly (not 4401: the token is fine)
                assert time.monotonic() - started < 5, "hello waited on the database"

                assert (await command(tablet, {"type": "ping", "id": "p"}))["type"] == "pong"  # still served

                tunnel.resume()
                placed = await _until_accepted(http, shift_id)
                frames = await events_until(tablet, lambda f: f["data"]["id"] == placed, timeout=10_000 * MS)
                assert frames[-1]["event"] == "ticket.created"


async def _until_accepted(http: httpx.AsyncClient, shift_id: int, timeout_s: float = 30.0) -> int:
    deadline = time.monotonic() + timeout_s
    while True:
        response = await order(http, shift_id, (8, 1))
        if response.status_code == 201:
            return int(response.json()["id"])
        assert response.status_code == 503, response.text
        assert time.monotonic() < deadline, f"still refused after {timeout_s} s: {response.text}"
        await asyncio.sleep(200 * MS)


async def test_a_node_cut_off_while_holding_a_shift_lock_does_not_block_the_shift(cluster_settings: Settings) -> None:
    """Node B takes the shift's lock for an order and stalls holding it; then it loses Postgres. Postgres
    ends B's transaction after ``LOCK_IDLE_S`` of idleness, releasing the lock, and node A writes again."""
    async with (
        proxy(5432) as tunnel,
        hub_process(replace(cluster_settings, node_id="a")) as a,
        hub_process(replace(_through(cluster_settings, tunnel), node_id="b"), HUB_FAULT="stall-holding-lock:120") as b,
    ):
        token = await a.token("manager")
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            a.client(token) as http_a,
            httpx.AsyncClient(base_url=b.http, headers=headers, timeout=None) as http_b,
        ):
            shift_id = await open_shift(http_a)
            stuck: asyncio.Task[Any] = asyncio.create_task(order(http_b, shift_id, (8, 1)))
            await wait_until(lambda: _lock_held(cluster_settings, shift_id), timeout=10_000 * MS)
            tunnel.pause()  # B holds the lock and can no longer be heard by Postgres
            cut_at = time.monotonic()
            refused = await order(http_a, shift_id, (8, 1))
            assert refused.status_code == 503, refused.text  # B really holds the shift: A's write waits, then 503
            placed = await _until_accepted(http_a, shift_id, timeout_s=LOCK_IDLE_S + 25)
            assert time.monotonic() - cut_at <= LOCK_IDLE_S + 25
            assert placed
            stuck.cancel()
            await b.kill()


async def _lock_held(settings: Settings, shift_id: int) -> bool:
    """Some session holds the shift's advisory lock (``pg_advisory_xact_lock(class, shift)``)."""
    db = Database(settings.database_url)
    try:
        async with db.engine.connect() as conn:
            held = await conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND classid::bigint = :c AND objid::bigint = :k AND objsubid = 2"
                ),
                {"c": SHIFT_LOCK_CLASS, "k": shift_id},
            )
            return bool(held.scalar_one())
    finally:
        await db.close()
