"""One heartbeat for every socket of the process (protocol.md §2.7), instead of a timer per connection.

Every ``interval_s`` one callback walks the open sockets: a socket whose previous ping got no
pong is closed 4408; every other one is sent the same prebuilt ping frame. A pong, like any
frame from the peer, answers it. Per-connection timers cost two timer handles and a random
payload per socket per interval; with thousands of idle tablets that was most of the idle CPU.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

__all__ = ["PING_FRAME", "Beating", "Heartbeat"]

PING_FRAME = b"\x89\x00"
"""An unmasked ping frame with no payload (RFC 6455 §5.5.2): the same bytes for everyone."""


class Beating(Protocol):
    """What the heartbeat needs of a socket."""

    def beat(self) -> None:
        """Close 4408 if the last ping went unanswered, else send :data:`PING_FRAME` and wait for an answer."""
        ...


class Heartbeat:
    """A set of sockets and one repeating timer; ``add``/``discard`` are O(1)."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._sockets: set[Beating] = set()
        self._timer: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._sockets)

    def add(self, socket: Beating) -> None:
        self._sockets.add(socket)
        if self._timer is None and self.interval_s > 0:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.interval_s, self._tick, loop)

    def discard(self, socket: Beating) -> None:
        self._sockets.discard(socket)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        for socket in list(self._sockets):
            socket.beat()
        self._timer = loop.call_later(self.interval_s, self._tick, loop) if self._sockets else None

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
