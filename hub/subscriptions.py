"""Who is subscribed to what on this node: subscribe (replay, snapshot, no gap), unsubscribe, fan-out.

Fan-out encodes each publication once and offers the same bytes to every local
subscriber's outbox; it never awaits a socket (conventions §8).

With a shared broker, one GPS publication per ping travels between nodes, on ``gps:fleet``;
each node hands it to its local ``gps:driver:{id}`` subscribers too (half the broker traffic
of publishing both, measured by the city benchmark). Broker interest is counted per broker
channel, since both kinds of topic then listen on the fleet channel.

Conflated topics (GPS) get their ``seq`` here, per node, at fan-out: they have no
history to resume from, so the number only has to increase on each connection
(protocol.md §2.4 "seq still increases but may skip"), wherever the position came from.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from hub.codes import CloseCode, ErrorCode
from hub.continuity import Continuity
from hub.errors import ProtocolError
from hub.gps import FLEET_TOPIC
from hub.history import HistoryResult, Publication, Replay, merge, new_epoch, resume
from hub.presence.base import PresenceMember
from hub.protocol import frames
from hub.protocol.commands import Position, Subscribe
from hub.protocol.wsframe import text_frame
from hub.topics import Topic

if TYPE_CHECKING:
    from hub.connection import Connection
    from hub.hub import Hub

__all__ = ["Subscriptions"]

# Value in a topic's subscriber map: None once live, a list while the subscription is being set up.
_Buffer = list[Publication] | None


class Subscriptions:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.by_topic: dict[str, dict[Connection, _Buffer]] = {}
        self._reliable: dict[str, bool] = {}
        self._conflated_seq: dict[str, int] = {}
        self._conflated_epoch = new_epoch()
        self._interest: dict[str, int] = {}  # broker channel -> local topics that need it
        self._derive_drivers = not hub.broker.single_node
        self.continuity = Continuity(
            hub.broker, hub.tasks, deliver=self._deliver, lost=self._close_topic, counted=self._count_gap
        )

    async def subscribe(self, conn: Connection, command: Subscribe) -> None:
        """protocol.md §2.2 subscribe: reply ``subscribed``, replay when asked, then live — no gap, no duplicate."""
        hub = self.hub
        assert conn.principal is not None
        topic = hub.topics.parse(command.topic, command.id)
        await hub.dispatcher.authorize_subscribe(conn, topic, command.id)
        subs = self.by_topic.setdefault(topic.name, {})
        if conn in subs:  # idempotent: a new reply, no second delivery
            conn.push(self._subscribed_frame(command, topic, await self._top(topic), None))
            return
        if len(conn.topics) >= hub.config.max_subscriptions:
            limit = hub.config.max_subscriptions
            raise ProtocolError(ErrorCode.RATE_LIMITED, f"at most {limit} subscriptions per connection", command.id)
        buffer: list[Publication] = []
        # Race fix (conventions §9): buffer live publications *before* reading history or a snapshot.
        subs[conn] = buffer
        conn.topics.add(topic.name)
        self._reliable[topic.name] = topic.reliable
        try:
            if len(subs) == 1:
                await self._want(topic.name)
            if topic.reliable:
                await self._go_live(conn, command, topic, buffer)
            else:
                await self._go_live_conflated(conn, command, topic, buffer)
        except BaseException:
            await self.detach(conn, topic.name)
            raise

    async def _top(self, topic: Topic) -> Position:
        if topic.reliable:
            return await self.hub.broker.position(topic.name)
        return Position(self._conflated_seq.get(topic.name, 0), self._conflated_epoch)

    def _still_wanted(self, conn: Connection, topic: Topic) -> bool:
        subs = self.by_topic.get(topic.name)
        return subs is not None and conn in subs and not conn.closing

    async def _go_live(self, conn: Connection, command: Subscribe, topic: Topic, buffer: list[Publication]) -> None:
        broker = self.hub.broker
        since = command.since
        if since is not None:
            history = await broker.history(topic.name, since.seq)
        else:
            history = HistoryResult((), await broker.position(topic.name))
        top = history.top
        outcome = resume(history, since) if since is not None else None
        replay = outcome.publications if isinstance(outcome, Replay) else None
        after = since.seq if replay is not None and since is not None else top.seq
        merged = merge(replay or (), buffer, after)
        if not self._still_wanted(conn, topic):
            return
        conn.push(self._subscribed_frame(command, topic, top, None if replay is None else len(replay)))
        for pub in merged.publications:
            conn.sender.push(text_frame(frames.encode_event(pub)), pub.ts)
        self.by_topic[topic.name][conn] = None  # live from here: no await since the merge, so nothing slipped
        self.continuity.follow(topic.name, top)
        if not merged.complete:
            conn.log.warning("hole in %s after seq %s: closing so the client resumes", topic.name, after)
            conn.request_close(CloseCode.SLOW_CONSUMER, "stream gap: resume with since", flush=True)
            return
        await self._joined(conn, topic)

    async def _go_live_conflated(
        self, conn: Connection, command: Subscribe, topic: Topic, buffer: list[Publication]
    ) -> None:
        """Start from the current value of every key (e.g. every live driver), then live updates.

        The snapshot and anything buffered meanwhile are merged per key (the buffered one is
        newer) and sent with fresh seqs reserved after the reply's, so the connection sees
        ``subscribed`` seq N, then N+1, N+2... and live events above those.
        """
        gps = self.hub.gps
        snapshot = await gps.snapshot(topic.name) if gps is not None else []
        if not self._still_wanted(conn, topic):
            return
        current: dict[str | None, tuple[str, bytes]] = {key: (event, data) for key, event, data in snapshot}
        for pub in buffer:
            current[pub.key] = (pub.event, pub.data)
        start = self._conflated_seq.get(topic.name, 0)
        self._conflated_seq[topic.name] = start + len(current)
        conn.push(self._subscribed_frame(command, topic, Position(start, self._conflated_epoch), None))
        now = time.time()
        for seq, (key, (event, data)) in enumerate(current.items(), start=start + 1):
            pub = Publication(topic.name, seq, self._conflated_epoch, event, data, now, key)
            conn.sender.push_conflated((topic.name, key), text_frame(frames.encode_event(pub)), now)
        self.by_topic[topic.name][conn] = None
        await self._joined(conn, topic)

    async def _joined(self, conn: Connection, topic: Topic) -> None:
        assert conn.principal is not None
        device = conn.device
        member = PresenceMember(
            conn.conn_id,
            conn.principal.user_id,
            device.id if device is not None else None,
            device.kind if device is not None else None,
            time.time(),
        )
        await self.hub.presence.add(topic.name, member)

    def _subscribed_frame(self, command: Subscribe, topic: Topic, top: Position, replayed: int | None) -> bytes:
        frame: dict[str, Any] = {
            "type": "subscribed",
            "id": command.id,
            "topic": topic.name,
            "seq": top.seq,
            "epoch": top.epoch,
            "recovered": replayed is not None,
            "conflated": not topic.reliable,
        }
        if replayed is not None:
            frame["replayed"] = replayed
        return frames.encode(frame)

    async def detach(self, conn: Connection, topic: str) -> None:
        conn.topics.discard(topic)
        subs = self.by_topic.get(topic)
        if subs is None or subs.pop(conn, 0) == 0:
            return
        if not subs:
            del self.by_topic[topic]
            self._reliable.pop(topic, None)
            self.continuity.forget(topic)
            await self._unwant(topic)
        await self.hub.presence.remove(topic, conn.conn_id)

    def _channel(self, topic: str) -> str:
        return FLEET_TOPIC if self._derive_drivers and topic.startswith("gps:driver:") else topic

    async def _want(self, topic: str) -> None:
        channel = self._channel(topic)
        self._interest[channel] = self._interest.get(channel, 0) + 1
        if self._interest[channel] == 1:
            await self.hub.broker.subscribe([channel])

    async def _unwant(self, topic: str) -> None:
        channel = self._channel(topic)
        left = self._interest.get(channel, 1) - 1
        if left > 0:
            self._interest[channel] = left
            return
        self._interest.pop(channel, None)
        await self.hub.broker.unsubscribe([channel])

    def on_publication(self, pub: Publication) -> None:
        """Broker handler: reliable publications pass the continuity check (gap-free, in order), then fan out."""
        if self._derive_drivers and pub.topic == FLEET_TOPIC:
            driver = f"gps:driver:{pub.key}"
            followers = self.by_topic.get(driver)
            if followers:
                derived = Publication(driver, pub.seq, pub.epoch, pub.event, pub.data, pub.ts, pub.key)
                self._fan_out(derived, followers, reliable=False)
        subs = self.by_topic.get(pub.topic)
        if not subs:
            return
        reliable = self._reliable.get(pub.topic, True)
        if reliable and not self.continuity.admit(pub):
            return
        self._fan_out(pub, subs, reliable)

    def _deliver(self, pub: Publication) -> None:
        """Continuity's hand-back: a publication read back from history, in order."""
        subs = self.by_topic.get(pub.topic)
        if subs:
            self._fan_out(pub, subs, self._reliable.get(pub.topic, True))

    def _fan_out(self, pub: Publication, subs: dict[Connection, _Buffer], reliable: bool) -> None:
        """Build the wire frame once, hand the same bytes to every subscriber, never await."""
        ts = pub.ts
        if not reliable:  # numbered here, per node (see the module docstring)
            seq = self._conflated_seq[pub.topic] = self._conflated_seq.get(pub.topic, 0) + 1
            pub = Publication(pub.topic, seq, self._conflated_epoch, pub.event, pub.data, ts, pub.key)
        wire = text_frame(frames.encode_event(pub))
        self.hub.corker.note_publication(ts)
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

    def _close_topic(self, topic: str, reason: str) -> None:
        """Unrecoverable gap on ``topic``: its subscribers resume (and refetch their snapshot if need be)."""
        for conn in list(self.by_topic.get(topic, ())):
            conn.request_close(CloseCode.SLOW_CONSUMER, "stream gap: resume with since", flush=True)

    def _count_gap(self, outcome: str) -> None:
        self.hub.metrics.stream_gaps.labels(outcome).inc()
