"""Contract suite for PresenceStore implementations: in-process, and Redis shared by several nodes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from hub.presence import MemoryPresence, PresenceMember, PresenceStore
from hub.presence.redis import RedisPresence
from tests.conftest import service_url
from tests.support.timing import MS

Factory = Callable[[str, float], RedisPresence]


class RedisNodes:
    """Builds RedisPresence nodes on the real Redis, under a namespace of this test's own."""

    def __init__(self) -> None:
        self.client = Redis.from_url(service_url("HUB_TEST_REDIS_URL"))
        self.namespace = f"t{uuid.uuid4().hex[:10]}"
        self.made: list[RedisPresence] = []

    def __call__(self, node_id: str, ttl_s: float = 40.0) -> RedisPresence:
        self.made.append(RedisPresence(self.client, node_id=node_id, ttl_s=ttl_s, namespace=self.namespace))
        return self.made[-1]

    async def close(self) -> None:
        for store in self.made:
            await store.close()
        keys = [key async for key in self.client.scan_iter(f"{self.namespace}:*")]
        if keys:
            await self.client.delete(*keys)
        await self.client.aclose()


@pytest.fixture
async def redis_nodes() -> AsyncIterator[Factory]:
    nodes = RedisNodes()
    yield nodes
    await nodes.close()


@pytest.fixture(params=["memory", "redis"])
async def presence(request: pytest.FixtureRequest) -> AsyncIterator[PresenceStore]:
    nodes = RedisNodes() if request.param == "redis" else None
    store: PresenceStore = nodes("node-a") if nodes is not None else MemoryPresence()
    await store.start()
    yield store
    await store.close()
    if nodes is not None:
        await nodes.close()


async def test_add_list_remove(presence: PresenceStore) -> None:
    a = PresenceMember("c1", 3, "tablet-7", "kds", 1.0)
    b = PresenceMember("c2", 4, None, None, 2.0)
    await presence.add("kds:1", a)
    await presence.add("kds:1", b)
    await presence.add("kds:2", a)
    assert await presence.members("kds:1") == [a, b]
    await presence.remove("kds:1", "c1")
    assert await presence.members("kds:1") == [b]
    assert await presence.members("kds:2") == [a]
    await presence.remove("kds:9", "nobody")
    assert await presence.members("kds:9") == []


async def test_every_node_sees_every_node_members(redis_nodes: Factory) -> None:
    a, b = redis_nodes("node-a", 40.0), redis_nodes("node-b", 40.0)
    await a.start()
    await b.start()
    on_a = PresenceMember("a-1", 3, "tablet-1", "kds", 1.0)
    on_b = PresenceMember("b-1", 4, "tablet-2", "kds", 2.0)
    await a.add("kds:1", on_a)
    await b.add("kds:1", on_b)
    assert await a.members("kds:1") == [on_a, on_b]
    assert await b.members("kds:1") == [on_a, on_b]
    await b.close()  # a clean stop leaves at once
    assert await a.members("kds:1") == [on_a]


async def test_a_dead_node_members_expire_within_its_ttl(redis_nodes: Factory) -> None:
    ttl_s = 600 * MS
    a, b = redis_nodes("node-a", ttl_s), redis_nodes("node-b", ttl_s)
    await a.start()
    await b.start()
    await a.add("kds:1", PresenceMember("a-1", 3, None, None, 1.0))
    await b.add("kds:1", PresenceMember("b-1", 4, None, None, 2.0))
    assert b._task is not None
    b._task.cancel()  # node B dies: nothing refreshes its liveness any more, nothing cleans up
    loop = asyncio.get_running_loop()
    started = loop.time()
    while [m.conn_id for m in await a.members("kds:1")] != ["a-1"]:
        assert loop.time() - started < 2 * ttl_s, "dead node's member still listed after two TTLs"
        await asyncio.sleep(20 * MS)
    await asyncio.sleep(2 * ttl_s)  # node A is alive: its refresher keeps it listed well past its TTL
    assert [m.conn_id for m in await a.members("kds:1")] == ["a-1"]


async def test_members_come_back_when_redis_forgot_them(redis_nodes: Factory) -> None:
    ttl_s = 600 * MS
    a = redis_nodes("node-a", ttl_s)
    await a.start()
    member = PresenceMember("a-1", 3, None, None, 1.0)
    await a.add("kds:1", member)
    await a._redis.delete(a._topic("kds:1"), a._alive("node-a"))  # as a Redis restarted without its data
    loop = asyncio.get_running_loop()
    started = loop.time()
    while await a.members("kds:1") != [member]:
        assert loop.time() - started < 2 * ttl_s, "node did not write its members again"
        await asyncio.sleep(20 * MS)
