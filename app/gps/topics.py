"""GPS topic families (protocol.md §2.4): every driver on ``gps:fleet``, one driver on ``gps:driver:{id}``.

Both are conflated (only the newest position per driver matters). One publication per ping
travels, on ``gps:fleet``; the hub derives ``gps:driver:{id}`` from it on every node (the
family is *carried by* the fleet topic, keyed by driver id). A new subscriber first gets the
current position of every live driver (or of its one driver) from the position store.
"""

from __future__ import annotations

from dataclasses import replace

import orjson

from app.gps.positions.base import DriverPosition, PositionStore
from hub.topics import Topic, TopicFamily

__all__ = ["DRIVER_FAMILY", "EVENT", "FLEET_FAMILY", "FLEET_TOPIC", "driver_topic", "gps_families"]

FLEET_TOPIC = "gps:fleet"
EVENT = "gps.position"
DRIVER_FAMILY = TopicFamily("gps:driver", "conflated", carried_by=FLEET_TOPIC)
FLEET_FAMILY = TopicFamily(FLEET_TOPIC, "conflated", keyed=False)
"""The two families without their snapshot (which needs a position store): what the AsyncAPI document describes."""


def driver_topic(driver_id: int) -> str:
    return f"gps:driver:{driver_id}"


def gps_families(store: PositionStore) -> list[TopicFamily]:
    async def snapshot(topic: Topic) -> list[tuple[str, str, bytes]]:
        positions: list[DriverPosition]
        if topic.key is None:
            positions = list(await store.latest())
        else:
            current = await store.current(topic.key)
            positions = [current] if current is not None else []
        return [(str(p.driver_id), EVENT, orjson.dumps(p.as_dict())) for p in positions]

    return [replace(DRIVER_FAMILY, snapshot=snapshot), replace(FLEET_FAMILY, snapshot=snapshot)]
