"""Events a service asks to publish once its transaction has committed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hub.hub import Hub

__all__ = ["OutEvent", "publish_all"]


@dataclass(frozen=True, slots=True)
class OutEvent:
    topic: str
    event: str
    data: Any


async def publish_all(hub: Hub, events: list[OutEvent]) -> None:
    """Publish in order. protocol.md §3: called after commit and before the REST call returns.

    Events the broker could not take are queued and delivered, in order, once it is back.
    """
    await hub.publish_all([(ev.topic, ev.event, ev.data) for ev in events])
