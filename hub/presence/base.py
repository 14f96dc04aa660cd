"""Presence: who is subscribed to a topic, across all nodes (protocol.md §2.2 ``presence``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["PresenceMember", "PresenceStore"]


@dataclass(frozen=True, slots=True)
class PresenceMember:
    conn_id: str
    user_id: int
    device_id: str | None
    kind: str | None
    since: float

    def as_frame(self) -> dict[str, Any]:
        return {
            "conn_id": self.conn_id,
            "user_id": self.user_id,
            "device_id": self.device_id,
            "kind": self.kind,
            "since": self.since,
        }


class PresenceStore(Protocol):
    """Entries of a node that dies must disappear within about two heartbeats (shared stores)."""

    shared: bool
    """True when every node sees every node's members (a multi-node hub refuses a store that is not)."""

    async def start(self) -> None:
        """Begin whatever keeps this node's entries alive (shared stores)."""
        ...

    async def add(self, topic: str, member: PresenceMember) -> None: ...

    async def remove(self, topic: str, conn_id: str) -> None: ...

    async def members(self, topic: str) -> list[PresenceMember]: ...

    async def close(self) -> None: ...
