"""The Hub: connections, subscriptions, fan-out and publishing, wired to a Broker.

Fan-out encodes each publication once and offers the same bytes to every local
subscriber's outbox; it never awaits a socket (conventions §8).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

import orjson

from hub.auth import Authenticator, Authorizer, DeviceTracker, Principal
from hub.broker.base import Broker
from hub.codes import CloseCode, ErrorCode
from hub.config import HubConfig
from hub.connection import Connection
from hub.dispatch import Dispatcher, GpsIngest
from hub.errors import CloseConnection, HubError, ProtocolError
from hub.history import HistoryResult, Publication, Replay, merge, resume
from hub.metrics import HubMetrics
from hub.presence.base import PresenceMember, PresenceStore
from hub.protocol import frames
from hub.protocol.commands import CommandId, Position, Subscribe
from hub.protocol.wsframe import text_frame
from hub.sender import Corker, SendStats
from hub.tasks import TaskSet
from hub.topics import Topic, TopicRegistry

__all__ = ["Hub"]

log = logging.getLogger("hub")

# Value in a topic's subscriber map: None once live, a list while the subscription is being set up.
_Buffer = list[Publication] | None


class Hub:
    def __init__(
        self,
        *,
        config: HubConfig,
        broker: Broker,
        presence: PresenceStore,
        topics: TopicRegistry,
        authenticator: Authenticator,
        authorizer: Authorizer,
        devices: DeviceTracker,
        metrics: HubMetrics,
        gps: GpsIngest | None = None,
    ) -> None:
        self.config = config
        self.broker = broker
        self.presence = presence
        self.topics = topics
        self.authenticator = authenticator
        self.authorizer = authorizer
        self.devices = devices
        self.metrics = metrics
        self.tasks = TaskSet()
        self.send_stats = SendStats()
        self.corker = Corker(self.send_stats)
        self.connections: dict[str, Connection] = {}
        self._subscribers: dict[str, dict[Connection, _Buffer]] = {}
        self._reliable: dict[str, bool] = {}
        # (user_id, device_id) -> open connections on this node: O(1) "last socket of this device?" on close
        # (scanning every connection per close made a drain of n sockets cost n²).
        self._device_sockets: dict[tuple[int, str], int] = {}
        self._dispatcher = Dispatcher(self, gps)
        self._ticker: asyncio.Task[None] | None = None

    # ---- lifecycle ----

    async def start(self) -> None:
        await self.broker.start(self._on_publication)
        self._ticker = self.tasks.spawn(self._tick_forever(), name="hub-ticker")

    async def drain(self) -> None:
        """Close every connection 1001 after flushing, wait up to ``drain_s``, then cancel the rest."""
        for conn in list(self.connections.values()):
            conn.drain()
        deadline = time.monotonic() + self.config.drain_s
        while self.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self._ticker is not None:
            self._ticker.cancel()
        await self.tasks.cancel_all(max(0.0, deadline - time.monotonic()), "hub draining")

    # ---- connections ----

    async def authenticate(self, token: str, command_id: CommandId) -> Principal:
        """The principal of an access token; a bad one ends the connection (protocol.md §2.5: error then 4401).

        Raises:
            CloseConnection: 4401, with an ``unauthorized`` error frame echoing ``command_id``.
        """
        try:
            return await self.authenticator.authenticate(token)
        except HubError as exc:
            raise CloseConnection(
                CloseCode.UNAUTHORIZED, exc.message, error=ErrorCode.UNAUTHORIZED, command_id=command_id
            ) from None

    def new_connection_id(self) -> str:
        return f"{self.config.node_id}-{secrets.token_hex(6)}"

    def welcome_frame(self, conn: Connection, command_id: CommandId) -> bytes:
        assert conn.principal is not None
        cfg = self.config
        frame: dict[str, Any] = {
            "type": "welcome",
            "conn_id": conn.conn_id,
            "node": cfg.node_id,
            "user": dict(conn.principal.public),
            "heartbeat_s": cfg.heartbeat_s,
            "limits": {
                "max_frame_bytes": cfg.max_frame_bytes,
                "max_subscriptions": cfg.max_subscriptions,
                "commands_per_s": cfg.commands_per_s,
                "gps_per_s": cfg.gps_per_s,
                "outbound_queue": cfg.outbound_queue,
                "history_size": cfg.history_size,
                "history_ttl_s": cfg.history_ttl_s,
            },
            "server_time": time.time(),
        }
        if command_id is not None:
            frame["id"] = command_id
        return frames.encode(frame)

    async def register(self, conn: Connection) -> None:
        self.connections[conn.conn_id] = conn
        self.metrics.connections.labels(conn.kind).inc()
        if conn.device is not None and conn.principal is not None:
            key = (conn.principal.user_id, conn.device.id)
            self._device_sockets[key] = self._device_sockets.get(key, 0) + 1
            try:
                await self.devices.connected(conn.principal, conn.device)
            except Exception:
                conn.log.exception("device registration failed")

    async def forget(self, conn: Connection, close_label: str) -> None:
        """Remove every trace of a closed connection."""
        if self.connections.pop(conn.conn_id, None) is None:
            self.metrics.disconnects.labels(close_label).inc()
            return
        self.metrics.connections.labels(conn.kind).dec()
        self.metrics.disconnects.labels(close_label).inc()
        for topic in list(conn.topics):
            await self._detach(conn, topic)
        if conn.device is not None and conn.principal is not None and self._last_device_socket(conn):
            try:
                await self.devices.disconnected(conn.principal, conn.device)
            except Exception:
                conn.log.exception("device disconnect bookkeeping failed")
        conn.log.info("connection closed code=%s", close_label)

    def _last_device_socket(self, conn: Connection) -> bool:
        """Count the device's socket out; True when it was the device's last one on this node."""
        assert conn.device is not None and conn.principal is not None
        key = (conn.principal.user_id, conn.device.id)
        left = self._device_sockets.get(key, 1) - 1
        if left > 0:
            self._device_sockets[key] = left
            return False
        self._device_sockets.pop(key, None)
        return True

    def close_where(self, predicate: Callable[[Principal, Connection], bool], code: CloseCode, reason: str) -> int:
        """Close (after flushing) every connection whose principal matches; returns how many."""
        matched = [c for c in self.connections.values() if c.principal is not None and predicate(c.principal, c)]
        for conn in matched:
            if code is CloseCode.UNAUTHORIZED:
                conn.push_error(ErrorCode.UNAUTHORIZED, reason)
            conn.request_close(code, reason, flush=True)
        return len(matched)

    # ---- commands ----

    async def dispatch(self, conn: Connection, command: Any) -> None:
        await self._dispatcher.dispatch(conn, command)

    async def subscribe(self, conn: Connection, command: Subscribe) -> None:
        """protocol.md §2.2 subscribe: reply ``subscribed``, replay when asked, then live — no gap, no duplicate."""
        assert conn.principal is not None
        topic = self.topics.parse(command.topic, command.id)
        await self._dispatcher.authorize_subscribe(conn, topic, command.id)
        subs = self._subscribers.setdefault(topic.name, {})
        if conn in subs:  # idempotent: a new reply, no second delivery
            conn.push(self._subscribed_frame(command, topic, await self.broker.position(topic.name), None))
            return
        if len(conn.topics) >= self.config.max_subscriptions:
            limit = self.config.max_subscriptions
            raise ProtocolError(ErrorCode.RATE_LIMITED, f"at most {limit} subscriptions per connection", command.id)
        buffer: list[Publication] = []
        # Race fix (conventions §9): buffer live publications *before* reading history.
        subs[conn] = buffer
        conn.topics.add(topic.name)
        self._reliable[topic.name] = topic.reliable
        try:
            if len(subs) == 1:
                await self.broker.subscribe([topic.name])
            await self._go_live(conn, command, topic, buffer)
        except BaseException:
            await self._detach(conn, topic.name)
            raise

    async def _go_live(self, conn: Connection, command: Subscribe, topic: Topic, buffer: list[Publication]) -> None:
        since = command.since if topic.reliable else None
        if since is not None:
            history = await self.broker.history(topic.name, since.seq)
        else:
            history = HistoryResult((), await self.broker.position(topic.name))
        top = history.top
        outcome = resume(history, since) if since is not None else None
        replay = outcome.publications if isinstance(outcome, Replay) else None
        after = since.seq if replay is not None and since is not None else top.seq
        merged = merge(replay or (), buffer, after)
        subs = self._subscribers.get(topic.name)
        if subs is None or conn not in subs or conn.closing:
            return
        conn.push(self._subscribed_frame(command, topic, top, None if replay is None else len(replay)))
        for pub in merged.publications:
            conn.sender.push(text_frame(frames.encode_event(pub)), pub.ts)
        subs[conn] = None  # live from here: no await since the merge, so nothing slipped between
        if not merged.complete:
            conn.log.warning("hole in %s after seq %s: closing so the client resumes", topic.name, after)
            conn.request_close(CloseCode.SLOW_CONSUMER, "stream gap: resume with since", flush=True)
            return
        assert conn.principal is not None
        device = conn.device
        member = PresenceMember(
            conn.conn_id,
            conn.principal.user_id,
            device.id if device is not None else None,
            device.kind if device is not None else None,
            time.time(),
        )
        await self.presence.add(topic.name, member)

    def _subscribed_frame(self, command: Subscribe, topic: Topic, top: Any, replayed: int | None) -> bytes:
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

    async def unsubscribe(self, conn: Connection, topic_name: str) -> None:
        await self._detach(conn, topic_name)

    async def _detach(self, conn: Connection, topic: str) -> None:
        conn.topics.discard(topic)
        subs = self._subscribers.get(topic)
        if subs is None or subs.pop(conn, 0) == 0:
            return
        if not subs:
            del self._subscribers[topic]
            self._reliable.pop(topic, None)
            await self.broker.unsubscribe([topic])
        await self.presence.remove(topic, conn.conn_id)

    # ---- publishing and fan-out ----

    async def publish(self, topic: str, event: str, data: Any, *, key: str | None = None) -> Publication:
        """Publish an application event; returns once the broker stored it (seq assigned) and delivered it locally.

        Raises:
            ProtocolError: ``not_found`` for a topic of no registered family.
            BrokerUnavailable: the broker is down; nothing was published.
        """
        parsed = self.topics.parse(topic)
        payload = orjson.dumps(data)
        pub = await self.broker.publish(topic, event, payload, reliable=parsed.reliable, ts=time.time(), key=key)
        self.metrics.events_published.labels(parsed.family.name).inc()
        return pub

    async def position(self, topic: str) -> Position:
        """The topic's current top (``seq``/``epoch``), for snapshot endpoints (protocol.md §3)."""
        self.topics.parse(topic)
        return await self.broker.position(topic)

    def _on_publication(self, pub: Publication) -> None:
        """Broker handler: build the wire frame once, hand the same bytes to every subscriber, never await."""
        subs = self._subscribers.get(pub.topic)
        if not subs:
            return
        wire = text_frame(frames.encode_event(pub))
        ts = pub.ts
        self.corker.note_publication(ts)
        if self._reliable.get(pub.topic, True):
            for conn, buffer in subs.items():
                if buffer is None:
                    conn.sender.push(wire, ts)
                else:
                    buffer.append(pub)
        else:
            key = (pub.topic, pub.key)
            for conn, buffer in subs.items():
                if buffer is None:
                    conn.sender.push_conflated(key, wire, ts)
                else:
                    buffer.append(pub)

    def flush_metrics(self) -> None:
        """Fold the hot path's plain counters into Prometheus (each second, and before a scrape)."""
        stats, metrics = self.send_stats, self.metrics
        if stats.frames:
            metrics.frames_sent.inc(stats.frames)
            stats.frames = 0
        samples, stats.latency_samples = stats.latency_samples, []
        for sample in samples:
            metrics.publish_to_send.observe(max(0.0, sample))

    # ---- periodic work ----

    async def _tick_forever(self) -> None:
        last_touch = last_expiry = time.monotonic()
        while True:
            await asyncio.sleep(1.0)
            self.flush_metrics()
            if time.monotonic() - last_expiry >= min(5.0, self.config.heartbeat_s):
                last_expiry = time.monotonic()
                self._expire_tokens(time.time())
            if time.monotonic() - last_touch >= self.config.touch_interval_s:
                last_touch = time.monotonic()
                await self._touch_devices()

    def _expire_tokens(self, now: float) -> None:
        """An access token that expired without a ``refresh`` ends its connection (4401, protocol.md §2.6)."""
        for conn in list(self.connections.values()):
            if conn.principal is not None and conn.principal.expires_at <= now and not conn.closing:
                conn.push_error(ErrorCode.UNAUTHORIZED, "access token expired: refresh it or log in again")
                conn.request_close(CloseCode.UNAUTHORIZED, "token expired", flush=True)

    async def _touch_devices(self) -> None:
        if self._device_sockets:
            try:
                await self.devices.seen(sorted(self._device_sockets))
            except Exception:
                log.exception("device last_seen update failed")
