"""What the client hands its caller: events, stream positions, resync notices and connection states."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Event", "Item", "Position", "Resync", "Status", "is_reliable"]

# protocol.md §2.4: GPS topics are conflated (seq may skip, nothing to replay); every other family is reliable.
_CONFLATED_PREFIXES = ("gps:",)


def is_reliable(topic: str) -> bool:
    """Whether ``topic`` keeps history, so that a resume with ``since`` can replay what was missed."""
    return not topic.startswith(_CONFLATED_PREFIXES)


@dataclass(frozen=True, slots=True)
class Position:
    """A place in a topic's stream: the last ``seq`` seen in ``epoch`` (protocol.md §2.2 ``since``)."""

    seq: int
    epoch: str

    def as_since(self) -> dict[str, Any]:
        return {"seq": self.seq, "epoch": self.epoch}


@dataclass(frozen=True, slots=True)
class Event:
    """A server push (§2.3). ``data`` is the whole current object, so applying it twice is harmless."""

    topic: str
    seq: int
    epoch: str
    event: str
    data: dict[str, Any]
    ts: float

    @classmethod
    def from_frame(cls, frame: dict[str, Any]) -> Event:
        return cls(frame["topic"], frame["seq"], frame.get("epoch", ""), frame["event"], frame["data"], frame["ts"])

    @property
    def position(self) -> Position:
        return Position(self.seq, self.epoch)


@dataclass(frozen=True, slots=True)
class Resync:
    """The hub could not replay what this subscription missed (``recovered: false``): refetch the snapshot.

    Events after this notice continue from ``position``; anything before it may be missing.
    """

    topic: str
    position: Position


Item = Event | Resync
"""What a subscription yields, in the order the hub sent it."""


@dataclass(frozen=True, slots=True)
class Status:
    """A change of the socket's state, for "offline, retrying in 2 s" banners (offline is shown, never hidden).

    ``state``: ``open`` after each welcome; ``offline`` after a drop, with the close ``code`` and the
    delay before the next attempt in ``retry_in``; ``closed`` when the socket stops for good (``code``
    says why; None after ``close()``).
    """

    state: Literal["open", "offline", "closed"]
    code: int | None = None
    reason: str = ""
    retry_in: float | None = None
