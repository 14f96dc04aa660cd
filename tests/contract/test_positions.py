"""Contract suite for every PositionStore implementation: memory (one node) and Redis (many nodes)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from uuid import uuid4

import pytest
from redis.asyncio import Redis

from app.gps.positions import DriverPosition, MemoryPositions, PositionStore, RedisPositions, distance_m
from hub.broker.base import BrokerUnavailable
from tests.conftest import service_url

NOW = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


Factory = Callable[[], PositionStore]


@pytest.fixture(params=["memory", "redis"])
async def stores(request: pytest.FixtureRequest, clock: Clock) -> AsyncIterator[Factory]:
    """Makes stores that share their data, as the nodes of one deployment do (memory: the one store)."""
    if request.param == "memory":
        shared = MemoryPositions(ttl_s=900.0, trail_max=50, clock=clock)
        yield lambda: shared
        await shared.close()
        return
    url = service_url("HUB_TEST_REDIS_URL")  # the real Redis, with keys of this test only
    assert url is not None
    redis = Redis.from_url(url)
    namespace = f"t{uuid4().hex[:10]}"
    made: list[RedisPositions] = []

    def make() -> PositionStore:
        made.append(RedisPositions(redis, ttl_s=900.0, trail_max=50, namespace=namespace, clock=clock))
        return made[-1]

    yield make
    for positions in made:
        await positions.close()
    assert all(p.dropped == 0 for p in made)
    keys = [key async for key in redis.scan_iter(match=f"{namespace}:*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


@pytest.fixture
def store(stores: Factory) -> PositionStore:
    return stores()


def at(driver: int, lat: float, lon: float, ts: float) -> DriverPosition:
    return DriverPosition(driver, lat, lon, ts, accuracy=5.0)


async def test_latest_is_the_newest_per_driver(store: PositionStore) -> None:
    store.record([at(1, 1.0, 1.0, NOW - 3), at(1, 1.1, 1.0, NOW - 2)])
    store.record([at(2, 2.0, 2.0, NOW - 1)])
    store.record([at(1, 9.9, 9.9, NOW - 10)])  # late and older: trail only, not the latest
    assert [(p.driver_id, p.lat) for p in await store.latest()] == [(1, 1.1), (2, 2.0)]
    current = await store.current(1)
    assert current is not None and current.lat == 1.1
    assert await store.current(99) is None


async def test_ttl_forgets_old_positions(store: PositionStore, clock: Clock) -> None:
    store.record([at(1, 1.0, 1.0, NOW - 100)])
    store.record([at(2, 2.0, 2.0, NOW - 1000)])  # already older than 15 minutes
    assert [p.driver_id for p in await store.latest()] == [1]
    clock.now += 850
    assert await store.latest() == [] and await store.current(1) is None and await store.trail(1) == []


async def test_nearby_is_nearest_first_within_the_radius(store: PositionStore) -> None:
    store.record([at(1, 5.3600, -4.0083, NOW)])
    store.record([at(2, 5.3450, -3.9900, NOW)])
    store.record([at(3, 48.8566, 2.3522, NOW)])
    found = await store.nearby(5.3460, -3.9910, 5_000)
    assert [p.driver_id for p, _ in found] == [2, 1]
    assert found[0][1] < 200 and found[1][1] == pytest.approx(distance_m(5.3460, -3.9910, 5.36, -4.0083))
    assert await store.nearby(0.0, 0.0, 1_000) == []


async def test_trail_is_oldest_first_and_bounded(store: PositionStore) -> None:
    store.record([at(1, 1.0, i / 100, NOW - 100 + i) for i in range(80)])
    trail = await store.trail(1)
    assert len(trail) == 50 and [p.ts for p in trail] == [NOW - 100 + i for i in range(30, 80)]
    assert await store.trail(2) == []


async def test_nodes_see_each_others_drivers(stores: Factory) -> None:
    node_a, node_b = stores(), stores()
    node_a.record([at(1, 5.36, -4.0083, NOW - 5)])
    node_b.record([at(2, 5.345, -3.99, NOW - 4)])
    await node_a.latest()  # both nodes' writes have landed
    await node_b.latest()
    for node in (node_a, node_b):
        assert [p.driver_id for p in await node.latest()] == [1, 2]
        assert [p.driver_id for p, _ in await node.nearby(5.346, -3.991, 5_000)] == [2, 1]
        assert [p.ts for p in await node.trail(1)] == [NOW - 5]


async def test_an_older_position_never_replaces_a_newer_one(stores: Factory) -> None:
    node_a, node_b = stores(), stores()
    node_a.record([at(1, 1.0, 1.0, NOW - 1)])
    await node_a.latest()
    node_b.record([at(1, 2.0, 2.0, NOW - 2)])  # late, from another node: trail only
    node_b.record([at(1, 3.0, 3.0, NOW - 3)])
    current = await node_b.current(1)
    assert current is not None and (current.lat, current.ts) == (1.0, NOW - 1)
    assert [p.lat for p in await node_a.latest()] == [1.0]
    assert [p.lat for p, _ in await node_a.nearby(1.0, 1.0, 100)] == [1.0]
    assert await node_a.nearby(3.0, 3.0, 100) == []
    assert [p.ts for p in await node_a.trail(1)] == [NOW - 3, NOW - 2, NOW - 1]  # oldest first, whatever the arrival


async def test_positions_keep_every_field(store: PositionStore) -> None:
    full = DriverPosition(7, 5.36, -4.0083, NOW - 1, accuracy=3.5, speed=12.25, heading=270.0)
    bare = DriverPosition(8, -33.9, 18.4, NOW - 1)
    store.record([full])
    store.record([bare])
    assert await store.current(7) == full and await store.current(8) == bare
    assert await store.latest() == [full, bare] and await store.trail(7) == [full]
    assert await store.nearby(5.36, -4.0083, 1) == [(full, 0.0)]


async def test_reads_in_the_same_iteration_see_many_records(store: PositionStore) -> None:
    for driver in range(1, 201):
        store.record([at(driver, 1.0 + driver / 1000, 1.0, NOW - 1)])
    assert len(await store.latest()) == 200
    store.record([at(5, 9.0, 9.0, NOW)])
    current = await store.current(5)
    assert current is not None and current.lat == 9.0


async def test_reads_are_not_starved_by_a_busy_ingest(store: PositionStore) -> None:
    busy = True

    async def ingest() -> None:
        ts = NOW - 100
        while busy:
            for driver in range(1, 51):
                ts += 0.001
                store.record([at(driver, 1.0, 1.0, ts)])
            await asyncio.sleep(0)

    task = asyncio.create_task(ingest())
    await asyncio.sleep(0.05)
    try:
        for _ in range(5):
            assert len(await asyncio.wait_for(store.latest(), 2.0)) == 50
    finally:
        busy = False
        await task


async def test_redis_down_drops_writes_and_fails_reads() -> None:
    redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1.0)  # nothing listens there
    positions = RedisPositions(redis, namespace=f"t{uuid4().hex[:10]}")
    positions.record([at(1, 1.0, 1.0, NOW)])  # never raises on the ingest path
    with pytest.raises(BrokerUnavailable):
        await positions.latest()
    assert positions.dropped == 1
    await positions.close()
    await redis.aclose()


def test_distance_is_great_circle() -> None:
    assert distance_m(0, 0, 0, 1) == pytest.approx(111_195, rel=1e-3)
    assert distance_m(5.36, -4.0083, 5.36, -4.0083) == 0
