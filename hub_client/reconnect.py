"""When to reconnect after a close, and how long to wait: pure, so both are tested without a server.

Full jitter (the delay is drawn uniformly from ``[0, min(cap, base · 2^attempt)]``) spreads a fleet
of tablets that lost one node over the whole window instead of sending them back in waves, the
way centrifuge-js and socket.io-client's ``Backoff`` do.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import Enum

__all__ = ["Action", "Backoff", "after_close"]


class Action(Enum):
    """What a client does after the server closed its socket (protocol.md §2.6)."""

    RECONNECT = "reconnect"
    """1001 draining, 1006 dropped, 1011 server fault, 4408 no heartbeat, 4500 slow consumer: come back and resume."""
    REFRESH = "refresh"
    """4401: refresh the access token once, then reconnect; a second 4401 means log in again."""
    BACK_OFF = "back off"
    """4429: the hub asked this client to calm down: wait at least ``Backoff.rate_limited_s`` first."""
    STOP = "stop"
    """1002/1003/1007/1009/4400: the client sent something wrong; reconnecting would repeat it."""


_STOP = frozenset({1002, 1003, 1007, 1008, 1009, 4400})


def after_close(code: int) -> Action:
    """The action for a close code; unknown codes reconnect (a new server code must not strand devices).

    Args:
        code: the close code received (1006 when the connection dropped without a close frame).

    Returns:
        The ``Action`` to take.
    """
    if code == 4401:
        return Action.REFRESH
    if code == 4429:
        return Action.BACK_OFF
    if code in _STOP:
        return Action.STOP
    return Action.RECONNECT


@dataclass(frozen=True, slots=True)
class Backoff:
    """Reconnect delays. The defaults suit a kitchen tablet on shaky Wi-Fi."""

    base_s: float = 0.5
    """Window of the first retry: uniform in [0, 0.5 s]."""
    cap_s: float = 30.0
    """The window stops doubling here (after 6 failed attempts)."""
    rate_limited_s: float = 10.0
    """After 4429, at least this long before the jittered delay (the limit is per connection and per user)."""
    stable_s: float = 10.0
    """A connection that lived this long resets the attempt count; one that dies sooner keeps doubling,
    so a server that accepts and closes at once is not hammered."""

    def delay(self, attempt: int, rng: random.Random, *, rate_limited: bool = False) -> float:
        """Seconds to wait before reconnect attempt ``attempt`` (0 for the first after a drop).

        Args:
            attempt: failed attempts since the last stable connection.
            rng: the random source (seeded in tests).
            rate_limited: the last close was 4429.

        Returns:
            The delay in seconds.
        """
        window = min(self.cap_s, self.base_s * 2 ** min(attempt, 32))
        return (self.rate_limited_s if rate_limited else 0.0) + rng.uniform(0.0, window)
