"""Positions in process memory: one node's drivers (the default, single-node deployment).

Trail points are stored as plain tuples of numbers, not objects: CPython's garbage
collector stops tracking such tuples, so millions of points add no GC pause (as
dataclass instances, 450k points made full collections take 250 ms, stalling every socket).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence

from app.gps.positions.base import DriverPosition, PositionStore, distance_m

__all__ = ["MemoryPositions"]

_Point = tuple[float, float, float, float | None, float | None, float | None]  # ts, lat, lon, accuracy, speed, heading


class MemoryPositions:
    """Latest position per driver plus a bounded trail; memory is O(drivers × trail_max), never O(pings)."""

    shared = False

    def __init__(self, *, ttl_s: float = 900.0, trail_max: int = 2000, clock: Callable[[], float] = time.time) -> None:
        self.ttl_s = ttl_s
        self.trail_max = trail_max
        self._clock = clock
        self._latest: dict[int, DriverPosition] = {}
        self._trails: dict[int, deque[_Point]] = {}
        self._next_sweep = 0.0

    def record(self, positions: Sequence[DriverPosition]) -> None:
        if not positions:
            return
        newest = positions[-1]
        driver = newest.driver_id
        current = self._latest.get(driver)
        if current is None or newest.ts >= current.ts:
            self._latest[driver] = newest
        trail = self._trails.get(driver)
        if trail is None:
            trail = self._trails[driver] = deque(maxlen=self.trail_max)
        if len(positions) == 1:  # the common case: no generator
            trail.append((newest.ts, newest.lat, newest.lon, newest.accuracy, newest.speed, newest.heading))
        else:
            trail.extend([(p.ts, p.lat, p.lon, p.accuracy, p.speed, p.heading) for p in positions])
        now = self._clock()
        if now >= self._next_sweep:  # forget drivers gone for longer than the TTL (bounded memory)
            self._next_sweep = now + min(60.0, self.ttl_s)
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        horizon = now - self.ttl_s
        for driver in [d for d, p in self._latest.items() if p.ts < horizon]:
            del self._latest[driver]
            self._trails.pop(driver, None)

    def _fresh(self, position: DriverPosition | None) -> DriverPosition | None:
        if position is None or position.ts < self._clock() - self.ttl_s:
            return None
        return position

    async def latest(self) -> list[DriverPosition]:
        horizon = self._clock() - self.ttl_s
        return sorted((p for p in self._latest.values() if p.ts >= horizon), key=lambda p: p.driver_id)

    async def current(self, driver_id: int) -> DriverPosition | None:
        return self._fresh(self._latest.get(driver_id))

    async def nearby(self, lat: float, lon: float, radius_m: float) -> list[tuple[DriverPosition, float]]:
        found = [(p, distance_m(lat, lon, p.lat, p.lon)) for p in await self.latest()]
        return sorted(((p, d) for p, d in found if d <= radius_m), key=lambda pair: pair[1])

    async def trail(self, driver_id: int) -> list[DriverPosition]:
        horizon = self._clock() - self.ttl_s
        points = sorted(p for p in self._trails.get(driver_id, ()) if p[0] >= horizon)
        return [
            DriverPosition(driver_id, lat, lon, ts, acc, speed, heading) for ts, lat, lon, acc, speed, heading in points
        ]

    async def close(self) -> None:
        self._latest.clear()
        self._trails.clear()


_check: type[PositionStore] = MemoryPositions
