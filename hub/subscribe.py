"""Subscribing and unsubscribing a connection (protocol.md §2.2): reply, replay or snapshot, then live.

Race fix: live publications are buffered for the new subscriber *before*
history or a snapshot is read; the buffer is merged in, then the subscriber goes live with no
await in between, so nothing slips through and nothing arrives twice.

Broker interest is counted per broker channel: topics carried by another (``carried_by``)
listen on their carrier's channel.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from hub.auth import Authorizer
from hub.broker.base import Broker
from hub.codes import CloseCode, ErrorCode
from hub.connection import Connection
from hub.errors import HubError, ProtocolError
from hub.fanout import Fanout
from hub.history import HistoryResult, Publication, Replay, merge, resume
from hub.presence.base import PresenceMember, PresenceStore
from hub.protocol import frames
from hub.protocol.commands import CommandId, Position, Subscribe
from hub.registry import Registry
from hub.topics import Topic, TopicRegistry
from hub.wire.frames import text_frame

__all__ = ["Authorize", "Subscriptions", "authorizing"]

Authorize = Callable[[Connection, Topic, CommandId], Awaitable[None]]


def authorizing(authorizer: Authorizer) -> Authorize:
    """The application's subscribe policy, its refusals turned into error replies echoing the command's id."""

    async def authorize(conn: Connection, topic: Topic, command_id: CommandId) -> None:
        assert conn.principal is not None
        try:
            await authorizer.authorize_subscribe(conn.principal, topic)
        except ProtocolError:
            raise
        except HubError as exc:
            raise ProtocolError(exc.code, exc.message, command_id) from None

    return authorize


class Subscriptions:
    def __init__(
        self,
        *,
        registry: Registry,
        topics: TopicRegistry,
        fanout: Fanout,
        broker: Broker,
        presence: PresenceStore,
        authorize: Authorize,
        max_subscriptions: int,
    ) -> None:
        self._registry = registry
        self._topics = topics
        self._fanout = fanout
        self._broker = broker
        self._presence = presence
        self._authorize = authorize
        self._max = max_subscriptions
        self._interest: dict[str, int] = {}  # broker channel -> local topics that need it

    def listened(self, channel: str) -> bool:
        """Whether any local subscriber needs publications of ``channel``."""
        return channel in self._interest

    async def subscribe(self, conn: Connection, command: Subscribe) -> None:
        """Reply ``subscribed``, replay when asked, then live — no gap, no duplicate."""
        assert conn.principal is not None
        topic = self._topics.parse(command.topic, command.id)
        await self._authorize(conn, topic, command.id)
        subs = self._registry.subscribers.setdefault(topic.name, {})
        if conn in subs:  # idempotent: a new reply, no second delivery
            conn.push(self._subscribed_frame(command, topic, await self._top(topic), None))
            return
        if len(conn.topics) >= self._max:
            raise ProtocolError(ErrorCode.RATE_LIMITED, f"at most {self._max} subscriptions per connection", command.id)
        buffer: list[Publication] = []
        subs[conn] = buffer  # buffered from here: before history or a snapshot is read
        conn.topics.add(topic.name)
        self._registry.reliable[topic.name] = topic.reliable
        try:
            if len(subs) == 1:
                await self._want(topic)
            if topic.reliable:
                await self._go_live(conn, command, topic, buffer)
            else:
                await self._go_live_conflated(conn, command, topic, buffer)
        except BaseException:
            await self.detach(conn, topic.name)
            raise

    async def _top(self, topic: Topic) -> Position:
        if topic.reliable:
            return await self._broker.position(topic.name)
        return Position(self._fanout.conflated_top(topic.name), self._fanout.conflated_epoch)

    def _still_wanted(self, conn: Connection, topic: Topic) -> bool:
        subs = self._registry.subscribers.get(topic.name)
        return subs is not None and conn in subs and not conn.closing

    async def _go_live(self, conn: Connection, command: Subscribe, topic: Topic, buffer: list[Publication]) -> None:
        since = command.since
        if since is not None:
            history = await self._broker.history(topic.name, since.seq)
        else:
            history = HistoryResult((), await self._broker.position(topic.name))
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
        self._registry.subscribers[topic.name][conn] = None  # live: no await since the merge, nothing slipped
        if self._fanout.continuity is not None:
            self._fanout.continuity.follow(topic.name, top)
        if not merged.complete:
            conn.log.warning("hole in %s after seq %s: closing so the client resumes", topic.name, after)
            conn.request_close(CloseCode.SLOW_CONSUMER, "stream gap: resume with since", flush=True)
            return
        await self._joined(conn, topic)

    async def _go_live_conflated(
        self, conn: Connection, command: Subscribe, topic: Topic, buffer: list[Publication]
    ) -> None:
        """Start from the current value of every key (the family's snapshot), then live updates.

        The snapshot and anything buffered meanwhile are merged per key (the buffered one is
        newer) and sent with fresh seqs reserved after the reply's, so the connection sees
        ``subscribed`` seq N, then N+1, N+2... and live events above those.
        """
        source = topic.family.snapshot
        snapshot = await source(topic) if source is not None else []
        if not self._still_wanted(conn, topic):
            return
        current: dict[str | None, tuple[str, bytes]] = {key: (event, data) for key, event, data in snapshot}
        for pub in buffer:
            current[pub.key] = (pub.event, pub.data)
        epoch = self._fanout.conflated_epoch
        start = self._fanout.reserve_conflated(topic.name, len(current))
        conn.push(self._subscribed_frame(command, topic, Position(start, epoch), None))
        now = time.time()
        for seq, (key, (event, data)) in enumerate(current.items(), start=start + 1):
            pub = Publication(topic.name, seq, epoch, event, data, now, key)
            conn.sender.push_conflated((topic.name, key), text_frame(frames.encode_event(pub)), now)
        self._registry.subscribers[topic.name][conn] = None
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
        await self._presence.add(topic.name, member)

    def _subscribed_frame(self, command: Subscribe, topic: Topic, top: Position, replayed: int | None) -> bytes:
        return frames.encode_subscribed(
            command.id, topic.name, top.seq, top.epoch, conflated=not topic.reliable, replayed=replayed
        )

    async def detach(self, conn: Connection, topic: str) -> None:
        """Stop delivering ``topic`` to ``conn`` (synchronously for fan-out), then tidy interest and presence."""
        conn.topics.discard(topic)
        subs = self._registry.subscribers.get(topic)
        if subs is None or subs.pop(conn, 0) == 0:
            return
        if not subs:
            del self._registry.subscribers[topic]
            self._registry.reliable.pop(topic, None)
            if self._fanout.continuity is not None:
                self._fanout.continuity.forget(topic)
            await self._unwant(self._channel_of(topic))
        await self._presence.remove(topic, conn.conn_id)

    def _channel_of(self, topic: str) -> str:
        return self._topics.channel(self._topics.parse(topic))

    async def _want(self, topic: Topic) -> None:
        channel = self._topics.channel(topic)
        self._interest[channel] = self._interest.get(channel, 0) + 1
        if self._interest[channel] == 1:
            await self._broker.subscribe([channel])

    async def _unwant(self, channel: str) -> None:
        left = self._interest.get(channel, 1) - 1
        if left > 0:
            self._interest[channel] = left
            return
        self._interest.pop(channel, None)
        await self._broker.unsubscribe([channel])
