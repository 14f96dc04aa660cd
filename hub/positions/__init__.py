"""Latest driver positions and trails behind one ``PositionStore`` interface (memory now, Redis for many nodes)."""

from hub.positions.base import DriverPosition, PositionStore, distance_m
from hub.positions.memory import MemoryPositions

__all__ = ["DriverPosition", "MemoryPositions", "PositionStore", "distance_m"]
