"""Contract suite for PositionStore implementations (memory now; Redis joins with the scale-out work)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hub.positions import DriverPosition, MemoryPositions, PositionStore, distance_m

NOW = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["memory"])
async def store(request: pytest.FixtureRequest, clock: Clock) -> AsyncIterator[PositionStore]:
    positions = MemoryPositions(ttl_s=900.0, trail_max=50, clock=clock)
    yield positions
    await positions.close()


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


def test_distance_is_great_circle() -> None:
    assert distance_m(0, 0, 0, 1) == pytest.approx(111_195, rel=1e-3)
    assert distance_m(5.36, -4.0083, 5.36, -4.0083) == 0
