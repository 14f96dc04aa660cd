"""Latest driver positions and trails behind one ``PositionStore`` interface (memory for one node, Redis for many)."""

from hub.positions.base import DriverPosition, PositionStore, distance_m
from hub.positions.memory import MemoryPositions
from hub.positions.redis import RedisPositions

__all__ = ["DriverPosition", "MemoryPositions", "PositionStore", "RedisPositions", "distance_m"]
