"""In-process presence: one node, nothing to expire."""

from __future__ import annotations

from hub.presence.base import PresenceMember, PresenceStore

__all__ = ["MemoryPresence"]


class MemoryPresence:
    shared = False  # one process's members only

    def __init__(self) -> None:
        self._topics: dict[str, dict[str, PresenceMember]] = {}

    async def start(self) -> None:
        return None

    async def add(self, topic: str, member: PresenceMember) -> None:
        self._topics.setdefault(topic, {})[member.conn_id] = member

    async def remove(self, topic: str, conn_id: str) -> None:
        members = self._topics.get(topic)
        if members is not None:
            members.pop(conn_id, None)
            if not members:
                del self._topics[topic]

    async def members(self, topic: str) -> list[PresenceMember]:
        return sorted(self._topics.get(topic, {}).values(), key=lambda m: m.since)

    async def close(self) -> None:
        self._topics.clear()


_check: type[PresenceStore] = MemoryPresence
