"""Latest driver positions and trails behind one ``PositionStore`` interface (memory for one node, Redis for many)."""

from app.gps.positions.base import DriverPosition, PositionStore, distance_m
from app.gps.positions.memory import MemoryPositions
from app.gps.positions.redis import RedisPositions

__all__ = ["DriverPosition", "MemoryPositions", "PositionStore", "RedisPositions", "distance_m"]
