"""Gap-free live delivery per reliable topic on this node, whatever the broker's transport lost.

A networked broker's live channel (Redis pub/sub) drops what is published while a node is
disconnected, and a node's SUBSCRIBE can race a publication. History does not: every
publication is stored with its ``seq`` before it is sent. So the node remembers the last
``seq`` it delivered per topic and, when a publication skips ahead (or the broker says it
reconnected), reads the missing ones back from history and delivers them first, in order.
Duplicates (a publication both read back and received live) are dropped.

When history no longer reaches the gap, or the epoch changed (the broker lost its data),
nothing can be recovered here: the topic's local subscribers are closed 4500 "resume with
since", which tells each client to resume and, failing that, refetch its snapshot
(protocol.md §2.2, §2.6). With the in-process broker publications arrive in order, so
none of this ever triggers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from hub.broker.base import Broker, BrokerUnavailable
from hub.history import Publication
from hub.protocol.commands import Position
from hub.tasks import TaskSet

__all__ = ["Continuity"]

log = logging.getLogger("hub.continuity")

_RETRY_S = (0.1, 0.25, 0.5, 1.0, 2.0)


@dataclass(slots=True)
class _Cursor:
    epoch: str
    last: int
    pending: list[Publication] = field(default_factory=list)
    filling: bool = False


class Continuity:
    """``admit`` decides per publication: deliver now, or hold while the gap before it is filled."""

    def __init__(
        self,
        broker: Broker,
        tasks: TaskSet,
        *,
        deliver: Callable[[Publication], None],
        lost: Callable[[str, str], None],
        counted: Callable[[str], None],
    ) -> None:
        self._broker = broker
        self._tasks = tasks
        self._deliver = deliver
        self._lost = lost  # (topic, reason): close the topic's local subscribers 4500
        self._counted = counted  # "filled" | "lost" | "duplicate"
        self._cursors: dict[str, _Cursor] = {}

    def follow(self, topic: str, top: Position) -> None:
        """A subscriber went live at ``top``: from here on this node owes it every later ``seq``."""
        if topic not in self._cursors:
            self._cursors[topic] = _Cursor(top.epoch, top.seq)

    def forget(self, topic: str) -> None:
        """No local subscriber left (any fill in progress stops)."""
        self._cursors.pop(topic, None)

    def admit(self, pub: Publication) -> bool:
        """True: deliver ``pub`` now. False: a duplicate, or held until the gap before it is filled."""
        cursor = self._cursors.get(pub.topic)
        if cursor is None:
            self._cursors[pub.topic] = _Cursor(pub.epoch, pub.seq)
            return True
        if cursor.filling:
            cursor.pending.append(pub)
            return False
        if pub.epoch == cursor.epoch:
            if pub.seq == cursor.last + 1:
                cursor.last = pub.seq
                return True
            if pub.seq <= cursor.last:
                self._counted("duplicate")
                return False
        cursor.pending.append(pub)
        self._start_fill(pub.topic, cursor)
        return False

    def check_all(self) -> None:
        """The broker's live channel was down: look for anything published meanwhile on every followed topic."""
        for topic, cursor in list(self._cursors.items()):
            if not cursor.filling:
                self._start_fill(topic, cursor)

    def _start_fill(self, topic: str, cursor: _Cursor) -> None:
        cursor.filling = True
        self._tasks.spawn(self._fill(topic, cursor), name=f"fill:{topic}")

    async def _fill(self, topic: str, cursor: _Cursor) -> None:
        attempt = 0
        while self._cursors.get(topic) is cursor:
            try:
                history = await self._broker.history(topic, cursor.last)
            except BrokerUnavailable:
                await asyncio.sleep(_RETRY_S[min(attempt, len(_RETRY_S) - 1)])
                attempt += 1
                continue
            if self._cursors.get(topic) is not cursor:
                return
            top = history.top
            if top.epoch != cursor.epoch:
                self._give_up(topic, cursor, f"history lost (epoch {cursor.epoch} -> {top.epoch})")
                return
            stored = [p for p in history.publications if p.seq > cursor.last]
            if top.seq > cursor.last and (not stored or stored[0].seq != cursor.last + 1):
                self._give_up(topic, cursor, f"history no longer reaches seq {cursor.last + 1}")
                return
            found = {p.seq: p for p in [*cursor.pending, *stored] if p.epoch == cursor.epoch and p.seq > cursor.last}
            cursor.pending = []
            delivered = 0
            for seq in sorted(found):
                if seq != cursor.last + 1:  # lost on the live channel after the read: next round reads it back
                    cursor.pending.append(found[seq])
                    continue
                cursor.last = seq
                self._deliver(found[seq])
                delivered += 1
            if delivered:
                self._counted("filled")
                log.info("%s: %d publications recovered from history up to seq %d", topic, delivered, cursor.last)
            if not cursor.pending:
                cursor.filling = False
                return
            attempt = 0

    def _give_up(self, topic: str, cursor: _Cursor, reason: str) -> None:
        log.warning("%s: %s; closing its subscribers so they resume", topic, reason)
        self._counted("lost")
        self._cursors.pop(topic, None)
        self._lost(topic, reason)
