"""Who is on this node: open connections, sockets per user and per device, and the subscribers of each topic.

Plain dictionaries, owned by one event loop: fan-out reads ``subscribers`` on every publication,
so it must cost one lookup. A subscriber's value is ``None`` once live, or the list of
publications buffered while its subscription is being set up (history read, snapshot).
"""

from __future__ import annotations

from typing import TypeVar

from hub.connection import Connection
from hub.history import Publication

__all__ = ["Buffer", "Registry"]

K = TypeVar("K")

Buffer = list[Publication] | None


class Registry:
    def __init__(self) -> None:
        self.connections: dict[str, Connection] = {}
        self.subscribers: dict[str, dict[Connection, Buffer]] = {}
        self.reliable: dict[str, bool] = {}
        self._user_sockets: dict[int, int] = {}
        # (user_id, device_id) -> open connections on this node: O(1) "last socket of this device?" on close
        # (scanning every connection per close made a drain of n sockets cost n²).
        self._device_sockets: dict[tuple[int, str], int] = {}

    def __len__(self) -> int:
        return len(self.connections)

    def sockets_of(self, user_id: int) -> int:
        return self._user_sockets.get(user_id, 0)

    def add(self, conn: Connection) -> None:
        principal = conn.principal
        assert principal is not None
        self.connections[conn.conn_id] = conn
        self._user_sockets[principal.user_id] = self._user_sockets.get(principal.user_id, 0) + 1
        device = conn.tracked_device
        if device is not None:
            key = (principal.user_id, device.id)
            self._device_sockets[key] = self._device_sockets.get(key, 0) + 1

    def remove(self, conn: Connection) -> bool | None:
        """Forget ``conn``. None: it was never added; else whether it was its device's last socket here."""
        if self.connections.pop(conn.conn_id, None) is None:
            return None
        principal = conn.principal
        assert principal is not None
        _count_down(self._user_sockets, principal.user_id)
        device = conn.tracked_device
        if device is None:
            return False
        return _count_down(self._device_sockets, (principal.user_id, device.id))

    def has_device(self, key: tuple[int, str]) -> bool:
        """Whether the device ``(user_id, device_id)`` has an open socket here."""
        return key in self._device_sockets

    def devices(self) -> list[tuple[int, str]]:
        """``(user_id, device_id)`` of every device with an open socket here, sorted."""
        return sorted(self._device_sockets)


def _count_down(counts: dict[K, int], key: K) -> bool:
    """True when that was the last one."""
    left = counts.get(key, 1) - 1
    if left > 0:
        counts[key] = left
        return False
    counts.pop(key, None)
    return True
