"""Connection state and per-connection counters, as pure code (no I/O, time passed in).

AWAITING_HELLO ──hello ok──▶ OPEN ──close──▶ CLOSING ──▶ CLOSED
      └──────────────close──────────────────────┘
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from hub.codes import CloseCode
from hub.errors import CloseConnection

__all__ = [
    "AWAITING_HELLO",
    "CLOSED",
    "CLOSING",
    "OPEN",
    "RateDecision",
    "RateLimiter",
    "Session",
    "SessionState",
]


class SessionState(enum.Enum):
    AWAITING_HELLO = "awaiting_hello"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


AWAITING_HELLO = SessionState.AWAITING_HELLO
OPEN = SessionState.OPEN
CLOSING = SessionState.CLOSING
CLOSED = SessionState.CLOSED

_TRANSITIONS: dict[SessionState, frozenset[SessionState]] = {
    AWAITING_HELLO: frozenset({OPEN, CLOSING, CLOSED}),
    OPEN: frozenset({CLOSING, CLOSED}),
    CLOSING: frozenset({CLOSED}),
    CLOSED: frozenset(),
}


class RateDecision(enum.Enum):
    ALLOW = "allow"
    REJECT = "reject"
    """Over the limit: drop the command, reply ``rate_limited``."""
    REJECT_SILENTLY = "reject_silently"
    """Over the limit, and a ``rate_limited`` error was already sent within the last second."""


@dataclass(slots=True)
class RateLimiter:
    """Token bucket of ``rate`` tokens per second, burst ``rate``, plus abuse detection.

    "Sustained abuse" (protocol.md §2.5, close 4429) is read as: more than
    ``abuse_factor * rate`` rejected commands with no quiet second between them.
    """

    rate: float
    abuse_factor: float = 4.0
    tokens: float = field(init=False)
    updated: float = 0.0
    rejected_run: int = 0
    last_reject: float = -1e18
    last_error: float = -1e18

    def __post_init__(self) -> None:
        self.tokens = self.rate

    def check(self, now: float) -> RateDecision:
        """Take one token at time ``now``; raise :class:`CloseConnection` 4429 on sustained abuse."""
        self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return RateDecision.ALLOW
        if now - self.last_reject >= 1.0:
            self.rejected_run = 0
        self.rejected_run += 1
        self.last_reject = now
        if self.rejected_run > self.abuse_factor * self.rate:
            raise CloseConnection(CloseCode.RATE_LIMITED, "sustained rate-limit abuse")
        if now - self.last_error >= 1.0:
            self.last_error = now
            return RateDecision.REJECT
        return RateDecision.REJECT_SILENTLY


@dataclass(slots=True)
class Session:
    """What one connection's protocol needs to remember besides its subscriptions."""

    max_invalid_frames: int = 20
    state: SessionState = AWAITING_HELLO
    invalid_in_a_row: int = 0

    def transition(self, new: SessionState) -> None:
        """Move to ``new``; an illegal move is a bug in the hub, not in the client."""
        if new not in _TRANSITIONS[self.state]:
            raise RuntimeError(f"illegal session transition {self.state.value} -> {new.value}")
        self.state = new

    def invalid_frame(self) -> None:
        """Count an invalid frame; the 21st in a row closes 4400 (protocol.md §2.5)."""
        self.invalid_in_a_row += 1
        if self.invalid_in_a_row > self.max_invalid_frames:
            raise CloseConnection(CloseCode.PROTOCOL_VIOLATION, f"more than {self.max_invalid_frames} invalid frames")

    def valid_frame(self) -> None:
        self.invalid_in_a_row = 0
