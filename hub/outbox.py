"""A connection's bounded outbound queue.

The publisher never waits: ``offer`` either queues the frame or reports
``Overflow``. Conflated frames (GPS) replace the pending frame of the same key,
so a slow reader's backlog is bounded by the number of keys, not of publications.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass

__all__ = ["Outbox", "Overflow"]


@dataclass(frozen=True, slots=True)
class Overflow:
    """The queue is full: on a reliable topic the connection must close 4500."""

    limit: int


class Outbox:
    """Frames waiting for the connection's single writer. Not thread-safe; one event loop."""

    __slots__ = ("_conflated", "limit", "queue", "stamp")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.queue: deque[bytes | Hashable] = deque()
        """Pending items in order; truthy while anything is pending (cheaper than ``len()`` on the hot path)."""
        self._conflated: dict[Hashable, bytes] = {}
        self.stamp: float | None = None
        """Publish time of the oldest event frame in the queue (for hub_publish_to_send_seconds)."""

    def __len__(self) -> int:
        return len(self.queue)

    def offer(self, frame: bytes, published_at: float | None = None) -> Overflow | None:
        """Queue a reliable frame, or report overflow (the frame is then not queued)."""
        if len(self.queue) >= self.limit:
            return Overflow(self.limit)
        self.queue.append(frame)
        if published_at is not None and self.stamp is None:
            self.stamp = published_at
        return None

    def offer_conflated(self, key: Hashable, frame: bytes, published_at: float | None = None) -> bool:
        """Queue ``frame`` as the newest for ``key``. Returns True when an older pending frame was dropped."""
        if key in self._conflated:
            self._conflated[key] = frame
            return True
        self._conflated[key] = frame
        self.queue.append(_Key(key))
        if published_at is not None and self.stamp is None:
            self.stamp = published_at
        return False

    def take(self) -> tuple[list[bytes], float | None]:
        """Remove and return every pending frame in order, with the oldest event's publish time."""
        frames: list[bytes] = []
        conflated = self._conflated
        for item in self.queue:
            frames.append(conflated.pop(item.key) if type(item) is _Key else item)  # type: ignore[arg-type]
        self.queue.clear()
        stamp, self.stamp = self.stamp, None
        return frames, stamp

    def clear(self) -> int:
        """Drop everything pending; returns how many frames were dropped."""
        dropped = len(self.queue)
        self.queue.clear()
        self._conflated.clear()
        self.stamp = None
        return dropped


class _Key:
    """Placeholder in the queue for the newest conflated frame of ``key``."""

    __slots__ = ("key",)

    def __init__(self, key: Hashable) -> None:
        self.key = key
