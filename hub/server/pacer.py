"""Upgrades in a reconnect storm: a few sockets opening at once, the others waiting for their 101.

When a node comes back every tablet of a site reconnects in the same second. Answered as they
come, thousands of sockets get their 101 at once and then all wait together: their hellos,
subscribes and snapshots queue behind each other on the one event loop, so every tablet is back
near the very end, and each hello waits seconds after the client sent it. The work is the same
either way; its order is not. :class:`UpgradePacer` lets at most ``limit`` sockets be *opening*
(101 sent, hello not yet answered); a later upgrade request waits, in order, before its 101, where
a waiting tablet costs one idle TCP connection. Tablets then come back at an even pace, the first
ones early, and a hello is answered within moments of being sent. Beyond ``queue`` waiting, the
upgrade is refused at once (HTTP 503 with ``Retry-After``) and the client backs off.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Protocol

__all__ = ["Turn", "UpgradePacer"]


class Turn(Protocol):
    def take_turn(self) -> bool:
        """Start the upgrade now; ``False`` when the socket went away while it waited (it takes no slot)."""
        ...


class UpgradePacer:
    """At most ``limit`` sockets opening (0: no limit); up to ``queue`` more upgrades wait their turn in order.

    The owner of a turn calls :meth:`done` exactly once when its socket stops opening (the application
    took it over after ``hello``, or it closed), or :meth:`withdrawn` once when it closes while waiting.
    ``refused()`` counts an upgrade turned away; ``report(n)`` is told how many wait whenever that changes.
    """

    def __init__(
        self,
        limit: int,
        *,
        queue: int,
        refused: Callable[[], None] = lambda: None,
        report: Callable[[int], None] = lambda n: None,
    ) -> None:
        self._limit = limit
        self._queue = queue
        self._refused = refused
        self._report = report
        self._opening = 0
        self._waiting: deque[Turn] = deque()  # in order; a turn whose client went away stays until skipped
        self._live = 0

    @property
    def opening(self) -> int:
        return self._opening

    @property
    def waiting(self) -> int:
        """Upgrades waiting whose clients are still there."""
        return self._live

    def request(self, turn: Turn) -> bool:
        """Start ``turn`` now, or queue it; ``False``: the queue is full, refuse the upgrade."""
        if self._limit <= 0:
            turn.take_turn()
            return True
        if self._opening < self._limit and not self._live:
            if turn.take_turn():
                self._opening += 1
            return True
        if self._live >= self._queue:
            self._refused()
            return False
        self._waiting.append(turn)
        self._live += 1
        self._report(self._live)
        return True

    def withdrawn(self) -> None:
        """A waiting upgrade's client went away: it no longer counts (its turn is skipped when it comes)."""
        self._live -= 1
        self._report(self._live)

    def done(self) -> None:
        """One socket stopped opening: the next waiting ones (still connected) take their turn."""
        if self._limit <= 0:
            return
        self._opening -= 1
        waiting = self._waiting
        if not waiting:
            return
        while waiting and self._opening < self._limit:
            if waiting.popleft().take_turn():
                self._opening += 1
                self._live -= 1
        self._report(self._live)
