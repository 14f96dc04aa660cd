"""Redis stops and comes back in the middle of a stream of tickets: orders keep being taken, none is lost.

Two hub nodes (two real uvicorn servers) share one database and a Redis of the test's own,
which the test kills (-9) and restarts while kitchens keep ordering through both nodes.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.settings import Settings
from tests.support.kitchen import open_shift, order, subscribe
from tests.support.nodes import metric
from tests.support.redis_server import PrivateRedis, private_redis
from tests.support.server import RunningServer, closed_with, command, recv, run_server
from tests.support.timing import MS, wait_until

WAIT = 20_000 * MS  # Redis start-up and the nodes' reconnect backoff

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def _node(settings: Settings, redis: PrivateRedis, name: str) -> Settings:
    return replace(settings, broker_url=redis.url, redis_namespace="trouble", node_id=name)


async def _ready(server: RunningServer) -> int:
    async with server.client() as http:
        return (await http.get("/readyz")).status_code


async def _metrics(server: RunningServer) -> str:
    async with server.client() as http:
        return (await http.get("/metrics")).text


class Kitchen:
    """Orders through both nodes in turn until stopped; every order must be accepted, Redis or not.

    Remembers which were accepted with delivery pending (committed to the outbox while the broker
    was down: the relay publishes them once it is back).
    """

    def __init__(self, clients: list[httpx.AsyncClient], shift_id: int) -> None:
        self.clients, self.shift_id = clients, shift_id
        self.accepted: list[int] = []
        self.pending: list[int] = []
        self.stop = asyncio.Event()

    async def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            response = await order(self.clients[i % 2], self.shift_id, (8, 1))
            assert response.status_code == 201, response.text
            self.accepted.append(response.json()["id"])
            if response.headers.get("hub-delivery") == "pending":
                self.pending.append(response.json()["id"])
            i += 1
            await asyncio.sleep(20 * MS)


async def _created(ws: Any, want: set[int], timeout: float = 20_000 * MS) -> list[dict[str, Any]]:
    """kds events until every ticket in ``want`` was created; fails on a close or a timeout."""
    frames: list[dict[str, Any]] = []
    seen: set[int] = set()
    async with asyncio.timeout(timeout):
        while not want <= seen:
            frame = await recv(ws, timeout)
            if frame["type"] == "event":
                frames.append(frame)
                if frame["event"] == "ticket.created":
                    seen.add(frame["data"]["id"])
    return frames


async def test_redis_restart_mid_stream_loses_no_ticket(settings: Settings, tmp_path: Path) -> None:
    async with (
        private_redis(tmp_path, persistent=True) as redis,
        run_server(_node(settings, redis, "a")) as node_a,
        run_server(_node(settings, redis, "b")) as node_b,
    ):
        token = await node_a.token("manager")
        async with node_a.client(token) as http_a, node_b.client(token) as http_b:
            shift_id = await open_shift(http_a, max_orders_per_slot=10_000)
            tablets = [await node.as_user("chef") for node in (node_a, node_b)]
            tops = [await subscribe(ws, f"kds:{shift_id}") for ws in tablets]
            kitchen = Kitchen([http_a, http_b], shift_id)
            producing = asyncio.create_task(kitchen.run())
            await wait_until(lambda: len(kitchen.accepted) >= 10, timeout=WAIT)

            await redis.stop()
            await wait_until(lambda: _both(node_a, node_b, 503), timeout=WAIT)
            assert metric(await _metrics(node_a), "hub_broker_up") == 0
            snapshot = await http_a.get(f"/api/shifts/{shift_id}/kds")  # needs the topic's seq from Redis
            assert snapshot.status_code == 503 and snapshot.json()["error"]["code"] == "unavailable"
            await wait_until(lambda: len(kitchen.pending) >= 3, timeout=WAIT)  # sales go on while Redis is down
            during = len(kitchen.accepted)

            await redis.start()
            await wait_until(lambda: _both(node_a, node_b, 200), timeout=WAIT)
            await wait_until(lambda: len(kitchen.accepted) >= during + 10, timeout=WAIT)
            kitchen.stop.set()
            await producing

        for ws, top in zip(tablets, tops, strict=True):
            frames = await _created(ws, set(kitchen.accepted))
            seqs = [f["seq"] for f in frames]
            assert seqs == list(range(top["seq"] + 1, top["seq"] + 1 + len(seqs))), "gap or duplicate"
            assert {f["epoch"] for f in frames} == {top["epoch"]}  # the AOF kept history: same epoch
            assert [f["data"]["id"] for f in frames] == sorted(kitchen.accepted)
            assert (await command(ws, {"type": "ping", "id": "alive"}))["type"] == "pong"  # never closed
        text = await _metrics(node_a)
        assert metric(text, "hub_broker_up") == 1
        assert metric(text, "hub_broker_reconnects_total") >= 1


async def test_redis_losing_its_data_closes_tablets_so_they_refetch(settings: Settings, tmp_path: Path) -> None:
    """No persistence: history is gone after the restart (new epoch). Nothing can be replayed, so the
    tablet is told (4500), resumes with its old position, gets ``recovered: false`` and refetches."""
    async with private_redis(tmp_path, persistent=False) as redis, run_server(_node(settings, redis, "a")) as node:
        token = await node.token("manager")
        async with node.client(token) as http:
            shift_id = await open_shift(http, max_orders_per_slot=10_000)
            tablet = await node.as_user("chef")
            top = await subscribe(tablet, f"kds:{shift_id}")
            first = (await order(http, shift_id, (8, 1))).json()["id"]
            (created,) = await _created(tablet, {first})

            await redis.stop()
            await wait_until(lambda: _both(node, node, 503), timeout=WAIT)
            await redis.start()
            await wait_until(lambda: _both(node, node, 200), timeout=WAIT)
            second = await order(http, shift_id, (8, 1))
            assert second.status_code == 201, second.text

            code, _ = await closed_with(tablet, timeout=10_000 * MS)
            assert code == 4500
            again = await node.as_user("chef")
            since = {"seq": created["seq"], "epoch": top["epoch"]}
            resumed = await subscribe(again, f"kds:{shift_id}", since=since)
            assert resumed["recovered"] is False and resumed["epoch"] != top["epoch"]
            snapshot = (await http.get(f"/api/shifts/{shift_id}/kds")).json()
            assert {t["id"] for t in snapshot["tickets"]} == {first, second.json()["id"]}


async def _both(a: RunningServer, b: RunningServer, status: int) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return await _ready(a) == status and await _ready(b) == status
    return False
