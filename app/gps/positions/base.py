"""Where the latest position of every driver lives, and its recent trail (protocol.md §2.4 ``gps:``, §4 drivers).

``record`` is synchronous and never blocks the ingest path: the memory store applies it
at once; a networked store (Redis) may queue and write in batches. Reads are
async. Positions older than the store's TTL are neither listed nor kept.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict

__all__ = ["DriverPosition", "PositionPublic", "PositionStore", "distance_m"]

EARTH_RADIUS_M = 6_371_008.8


@with_config(ConfigDict(extra="forbid"))
class PositionPublic(TypedDict):
    """protocol.md §4.1 position: the REST body and the ``data`` of ``gps.position`` (its AsyncAPI schema)."""

    driver_id: int
    lat: float
    lon: float
    ts: float
    accuracy: float | None
    speed: float | None
    heading: float | None


@dataclass(slots=True)
class DriverPosition:
    """A driver's accepted position. Plain slots, not frozen (one per ping: see ``hub.history.Publication``)."""

    driver_id: int
    lat: float
    lon: float
    ts: float
    accuracy: float | None = None
    speed: float | None = None
    heading: float | None = None

    def as_dict(self) -> PositionPublic:
        """protocol.md §4.1 position (also the ``data`` of ``gps.position``)."""
        return {
            "driver_id": self.driver_id,
            "lat": self.lat,
            "lon": self.lon,
            "ts": self.ts,
            "accuracy": self.accuracy,
            "speed": self.speed,
            "heading": self.heading,
        }


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine), metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


class PositionStore(Protocol):
    shared: bool
    """True when every node sees every node's drivers."""

    def record(self, positions: Sequence[DriverPosition]) -> None:
        """Accepted positions of one driver, oldest first: all go to the trail, the last becomes the latest."""
        ...

    async def latest(self) -> list[DriverPosition]:
        """The newest position of every driver seen within the TTL."""
        ...

    async def current(self, driver_id: int) -> DriverPosition | None: ...

    async def nearby(self, lat: float, lon: float, radius_m: float) -> list[tuple[DriverPosition, float]]:
        """Drivers within ``radius_m`` of the point, nearest first, with their distance in metres."""
        ...

    async def trail(self, driver_id: int) -> list[DriverPosition]:
        """The driver's positions within the TTL, oldest first."""
        ...

    async def close(self) -> None: ...
