"""Fan-out: a publication from the broker to every local subscriber, encoded once, never awaiting a socket.

Reliable publications first pass the continuity check (gap-free, in order, whatever the broker's
live channel lost). Conflated ones get their ``seq`` here, per node: they have no history to
resume from, so the number only has to increase on each connection (protocol.md §2.4 "seq still
increases but may skip"). A topic that carries families (``TopicFamily.carried_by``) also reaches
the subscribers of each carried topic named by the publication's key, as that topic.
"""

from __future__ import annotations

from hub.codes import CloseCode
from hub.connection import Connection
from hub.continuity import Continuity
from hub.history import Publication, new_epoch
from hub.protocol import frames
from hub.registry import Buffer, Registry
from hub.sender import Corker
from hub.topics import TopicFamily, TopicRegistry
from hub.wire.frames import text_frame

__all__ = ["Fanout"]


class Fanout:
    def __init__(self, registry: Registry, topics: TopicRegistry, corker: Corker) -> None:
        self._registry = registry
        self._topics = topics
        self._corker = corker
        self._conflated_seq: dict[str, int] = {}
        self.conflated_epoch = new_epoch()
        self.continuity: Continuity | None = None
        """Set by the node when its broker is shared (a single node's broker delivers in order)."""

    def on_publication(self, pub: Publication) -> None:
        """The broker's handler: carried topics, then the topic itself (reliable ones through continuity)."""
        carried = self._topics.carried.get(pub.topic)
        if carried:
            self._carry(pub, carried)
        subs = self._registry.subscribers.get(pub.topic)
        if not subs:
            return
        reliable = self._registry.reliable.get(pub.topic, True)
        if reliable and self.continuity is not None and not self.continuity.admit(pub):
            return
        self._fan_out(pub, subs, reliable)

    def deliver(self, pub: Publication) -> None:
        """Continuity's hand-back: a publication read back from history, in order."""
        subs = self._registry.subscribers.get(pub.topic)
        if subs:
            self._fan_out(pub, subs, self._registry.reliable.get(pub.topic, True))

    def _carry(self, pub: Publication, families: list[TopicFamily]) -> None:
        subscribers = self._registry.subscribers
        for family in families:
            topic = f"{family.name}:{pub.key}"
            followers = subscribers.get(topic)
            if followers:
                derived = Publication(topic, pub.seq, pub.epoch, pub.event, pub.data, pub.ts, pub.key)
                self._fan_out(derived, followers, reliable=False)

    def reserve_conflated(self, topic: str, count: int) -> int:
        """Number ``count`` snapshot publications for a new subscriber; returns the seq before them."""
        start = self._conflated_seq.get(topic, 0)
        self._conflated_seq[topic] = start + count
        return start

    def conflated_top(self, topic: str) -> int:
        return self._conflated_seq.get(topic, 0)

    def _fan_out(self, pub: Publication, subs: dict[Connection, Buffer], reliable: bool) -> None:
        """Build the wire frame once, hand the same bytes to every subscriber, never await."""
        ts = pub.ts
        if not reliable:  # numbered here, per node (see the module docstring)
            seq = self._conflated_seq[pub.topic] = self._conflated_seq.get(pub.topic, 0) + 1
            pub = Publication(pub.topic, seq, self.conflated_epoch, pub.event, pub.data, ts, pub.key)
        wire = text_frame(frames.encode_event(pub))
        self._corker.note_publication(ts)
        if reliable:
            for conn, buffer in subs.items():
                if buffer is None:
                    conn.sender.push(wire, ts)
                else:
                    buffer.append(pub)
            return
        key = (pub.topic, pub.key)
        for conn, buffer in subs.items():
            if buffer is None:
                conn.sender.push_conflated(key, wire, ts)
            else:
                buffer.append(pub)

    def close_topic(self, topic: str, reason: str) -> None:
        """Unrecoverable gap on ``topic``: its subscribers resume (and refetch their snapshot if need be)."""
        for conn in list(self._registry.subscribers.get(topic, ())):
            conn.request_close(CloseCode.SLOW_CONSUMER, "stream gap: resume with since", flush=True)
