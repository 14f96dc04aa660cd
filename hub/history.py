"""Reliable-topic history: publications, a per-topic ring, and the pure resume/merge helpers.

The subscribe-with-``since`` race (protocol.md §2.2, "no gap, no duplicate") is fixed
by the caller in this order: start buffering live publications of the topic, read
history, reply ``subscribed``, then send ``merge(replayed, buffered)`` and go live.
``merge`` de-duplicates what arrived both ways and checks there is no hole.
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hub.protocol.commands import Position

__all__ = ["HistoryResult", "Merged", "NotRecovered", "Publication", "Replay", "Stream", "merge", "new_epoch", "resume"]


def new_epoch() -> str:
    """A fresh epoch: a stream whose history was lost gets a new one, so ``since`` fails loudly."""
    return secrets.token_hex(6)


@dataclass(slots=True)
class Publication:
    """One event on a topic. ``data`` is the JSON of the payload, serialized once by the publisher.

    Not ``frozen``, though nothing may change one: a frozen dataclass's ``__init__`` sets each field
    through ``object.__setattr__``, and every GPS ping builds two of these (the same reason as
    :mod:`hub.wire.events`). Treat it as immutable.
    """

    topic: str
    seq: int
    epoch: str
    event: str
    data: bytes
    ts: float
    key: str | None = None
    """Conflation key: on conflated topics a newer publication with the same key replaces an unsent one."""


@dataclass(frozen=True, slots=True)
class HistoryResult:
    """Publications after the requested position (oldest first) and the stream's top."""

    publications: Sequence[Publication]
    top: Position


@dataclass(frozen=True, slots=True)
class Replay:
    publications: Sequence[Publication]


@dataclass(frozen=True, slots=True)
class NotRecovered:
    reason: str


def resume(history: HistoryResult, since: Position) -> Replay | NotRecovered:
    """Decide whether ``history`` covers everything after ``since`` (centrifuge's isStreamRecovered).

    Args:
        history: what the broker returned for ``since.seq``.
        since: the client's last seen position.

    Returns:
        ``Replay`` with exactly the publications ``since.seq+1 … top`` in order, or
        ``NotRecovered`` when the epoch differs or history no longer reaches ``since.seq+1``.
    """
    top = history.top
    if since.epoch != top.epoch:
        return NotRecovered("epoch changed")
    if since.seq > top.seq:
        return NotRecovered("position is ahead of the stream")
    wanted = [p for p in history.publications if p.seq > since.seq]
    if since.seq == top.seq:
        return Replay(())
    if not wanted or wanted[0].seq != since.seq + 1 or wanted[-1].seq != top.seq:
        return NotRecovered("history no longer reaches that position")
    if any(b.seq != a.seq + 1 for a, b in zip(wanted, wanted[1:], strict=False)):
        return NotRecovered("history has a hole")
    return Replay(wanted)


@dataclass(frozen=True, slots=True)
class Merged:
    publications: list[Publication]
    complete: bool
    """False when a hole was found: the subscriber cannot be served gap-free."""


def merge(replayed: Iterable[Publication], buffered: Iterable[Publication], after: int) -> Merged:
    """Join replayed and live-buffered publications: sorted, de-duplicated, ``seq > after``, hole-checked."""
    by_seq: dict[int, Publication] = {}
    for pub in (*replayed, *buffered):
        if pub.seq > after:
            by_seq.setdefault(pub.seq, pub)
    ordered = [by_seq[seq] for seq in sorted(by_seq)]
    expected = after + 1
    for pub in ordered:
        if pub.seq != expected:
            return Merged(ordered, complete=False)
        expected += 1
    return Merged(ordered, complete=True)


class Stream:
    """The history ring of one reliable topic. Not concurrency-safe: its owner serializes access."""

    __slots__ = ("_items", "epoch", "seq", "ttl_s")

    def __init__(self, *, size: int, ttl_s: float, epoch: str | None = None) -> None:
        self._items: deque[Publication] = deque(maxlen=size)
        self.ttl_s = ttl_s
        self.epoch = epoch or new_epoch()
        self.seq = 0

    @property
    def top(self) -> Position:
        return Position(self.seq, self.epoch)

    def next(
        self, topic: str, event: str, data: bytes, ts: float, *, keep: bool, key: str | None = None
    ) -> Publication:
        """Assign the next ``seq``; keep the publication in history when ``keep`` (reliable topics)."""
        self.seq += 1
        pub = Publication(topic, self.seq, self.epoch, event, data, ts, key)
        if keep:
            self._prune(ts)
            self._items.append(pub)
        return pub

    def read(self, after: int | None, now: float) -> HistoryResult:
        """Publications with ``seq > after`` still within size and TTL (none when ``after`` is None)."""
        self._prune(now)
        if after is None or after >= self.seq:
            return HistoryResult((), self.top)
        return HistoryResult([p for p in self._items if p.seq > after], self.top)

    def _prune(self, now: float) -> None:
        horizon = now - self.ttl_s
        items = self._items
        while items and items[0].ts < horizon:
            items.popleft()
