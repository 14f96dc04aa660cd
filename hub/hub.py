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

from hub.auth import Authenticator, Authorizer, ConnectionMatch, DeviceTracker, Principal, PublishRecorder
from hub.broker.base import Broker, BrokerUnavailable
from hub.codes import CloseCode, ErrorCode
from hub.config import HubConfig
from hub.connection import Connection
from hub.dispatch import Dispatcher
from hub.errors import CloseConnection, HubError
from hub.gps import GpsIngestor
from hub.history import Publication
from hub.metrics import HubMetrics, observe_many
from hub.positions.base import PositionStore
from hub.presence.base import PresenceStore
from hub.protocol import frames
from hub.protocol.commands import CommandId, Position, Subscribe
from hub.redelivery import Redelivery
from hub.sender import Corker, SendStats
from hub.server.heartbeat import Heartbeat
from hub.subscriptions import Subscriptions
from hub.tasks import TaskSet
from hub.topics import TopicRegistry

__all__ = ["Hub"]

log = logging.getLogger("hub")

#: Node-to-node messages (not a client topic: no family parses it, so no client can subscribe to it).
CONTROL_TOPIC = "_hub:control"


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
        positions: PositionStore | None = None,
        may_send_gps: Callable[[Principal], bool] = lambda principal: True,
        publish_recorder: PublishRecorder | None = None,
    ) -> None:
        self.config = config
        self.broker = broker
        self.presence = presence
        self.topics = topics
        self.authenticator = authenticator
        self.authorizer = authorizer
        self.devices = devices
        self.publish_recorder = publish_recorder
        self.metrics = metrics
        self.tasks = TaskSet()
        self.send_stats = SendStats()
        self.corker = Corker(self.send_stats)
        self.connections: dict[str, Connection] = {}
        self.subscriptions = Subscriptions(self)
        self.redelivery = Redelivery(self.publish, self.tasks)
        # (user_id, device_id) -> open connections on this node: O(1) "last socket of this device?" on close
        # (scanning every connection per close made a drain of n sockets cost n²).
        self._device_sockets: dict[tuple[int, str], int] = {}
        self._user_sockets: dict[int, int] = {}  # user_id -> open connections on this node (HUB_MAX_SOCKETS_PER_USER)
        self.gps = GpsIngestor(self, positions, per_s=config.gps_per_s, may_send=may_send_gps) if positions else None
        self.dispatcher = Dispatcher(self)
        self.heartbeat = Heartbeat(config.heartbeat_s)
        """Pings every raw socket of the process from one timer (``hub.server``); in the lifespan state."""
        self._ticker: asyncio.Task[None] | None = None
        self._seen_reconnects = self._seen_dropped = 0

    # ---- lifecycle ----

    async def start(self) -> None:
        if self.broker.single_node:
            await self.broker.start(self.subscriptions.on_publication)
        else:
            await self.broker.subscribe([CONTROL_TOPIC])
            await self.broker.start(self._on_publication, self.subscriptions.continuity.check_all)
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
        self.heartbeat.stop()
        if len(self.redelivery):
            log.error("stopping with %d committed events never delivered (broker down)", len(self.redelivery))
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

    async def admit(self, conn: Connection) -> None:
        """Before ``welcome``: the per-user socket cap, then the device's registration (which may refuse).

        Raises:
            CloseConnection: 4429 with ``rate_limited`` when the user holds too many sockets or devices.
        """
        principal = conn.principal
        assert principal is not None
        cap = self.config.max_sockets_per_user
        if self._user_sockets.get(principal.user_id, 0) >= cap:
            raise CloseConnection(
                CloseCode.RATE_LIMITED,
                f"at most {cap} open sockets per user on this node: close another first",
                error=ErrorCode.RATE_LIMITED,
            )
        if conn.device is not None:
            try:
                await self.devices.connected(principal, conn.device)
            except HubError as exc:
                raise CloseConnection(CloseCode.RATE_LIMITED, exc.message, error=exc.code) from None

    def register(self, conn: Connection) -> None:
        """The connection is open (``welcome`` sent): count it."""
        principal = conn.principal
        assert principal is not None
        self.connections[conn.conn_id] = conn
        self._user_sockets[principal.user_id] = self._user_sockets.get(principal.user_id, 0) + 1
        self.metrics.connections.labels(conn.kind).inc()
        if conn.device is not None:
            key = (principal.user_id, conn.device.id)
            self._device_sockets[key] = self._device_sockets.get(key, 0) + 1

    async def forget(self, conn: Connection, close_label: str) -> None:
        """Remove every trace of a closed connection."""
        if self.connections.pop(conn.conn_id, None) is None:
            self.metrics.disconnects.labels(close_label).inc()
            return
        self.metrics.connections.labels(conn.kind).dec()
        self.metrics.disconnects.labels(close_label).inc()
        if conn.principal is not None:
            left = self._user_sockets.get(conn.principal.user_id, 1) - 1
            if left > 0:
                self._user_sockets[conn.principal.user_id] = left
            else:
                self._user_sockets.pop(conn.principal.user_id, None)
        for topic in list(conn.topics):
            await self.subscriptions.detach(conn, topic)
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

    def close_matching(self, match: ConnectionMatch, code: CloseCode, reason: str) -> int:
        """Close this node's connections that ``match``; returns how many."""
        return self.close_where(lambda p, c: match.matches(p, c.device.id if c.device else None), code, reason)

    async def close_everywhere(self, match: ConnectionMatch, code: CloseCode, reason: str) -> int:
        """Close matching connections on every node (logout, revocation, device removed); returns how many here.

        Other nodes hear it through the broker at once. If the broker is down they do not; the
        application's revocation watch (which reads revoked sessions from the database) closes
        them within its interval instead.
        """
        closed = self.close_matching(match, code, reason)
        if not self.broker.single_node:
            message = orjson.dumps(
                {"node": self.config.node_id, "match": match.as_dict(), "code": int(code), "reason": reason}
            )
            try:
                await self.broker.publish(CONTROL_TOPIC, "close", message, reliable=False, ts=time.time())
            except BrokerUnavailable:
                log.warning("broker down: other nodes not told to close %s", match)
        return closed

    def _on_publication(self, pub: Publication) -> None:
        """Broker handler of a multi-node hub: node-to-node messages first, then subscribers."""
        if pub.topic != CONTROL_TOPIC:
            self.subscriptions.on_publication(pub)
            return
        try:
            message = orjson.loads(pub.data)
            if message["node"] != self.config.node_id and pub.event == "close":
                self.close_matching(
                    ConnectionMatch.from_dict(message["match"]), CloseCode(message["code"]), message["reason"]
                )
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed control message: %r", pub.data[:200])

    # ---- commands ----

    async def dispatch(self, conn: Connection, command: Any) -> None:
        await self.dispatcher.dispatch(conn, command)

    async def subscribe(self, conn: Connection, command: Subscribe) -> None:
        await self.subscriptions.subscribe(conn, command)

    async def unsubscribe(self, conn: Connection, topic_name: str) -> None:
        await self.subscriptions.detach(conn, topic_name)

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

    def publish_volatile(self, topic: str, event: str, payload: bytes, *, ts: float, key: str) -> None:
        """Fire-and-forget publication on a conflated topic (GPS): no history, no await, may be dropped."""
        if self.broker.single_node and topic not in self.subscriptions.by_topic:
            return  # nobody anywhere listens: a driver's own topic, most of the time
        self.broker.publish_volatile(topic, event, payload, ts=ts, key=key)

    def flush_metrics(self) -> None:
        """Fold the hot path's plain counters into Prometheus (each second, and before a scrape)."""
        stats, metrics = self.send_stats, self.metrics
        if stats.frames:
            metrics.frames_sent.inc(stats.frames)
            stats.frames = 0
        if stats.received:
            received, stats.received = stats.received, {}
            for label, count in received.items():
                metrics.frames_received.labels(label).inc(count)
        if self.gps is not None:
            self.gps.flush_metrics()
        broker = self.broker
        metrics.broker_up.set(1 if broker.up else 0)
        metrics.publish_pending.set(len(self.redelivery))
        if broker.reconnects > self._seen_reconnects:
            metrics.broker_reconnects.inc(broker.reconnects - self._seen_reconnects)
            self._seen_reconnects = broker.reconnects
        if broker.dropped_volatile > self._seen_dropped:
            metrics.broker_dropped.inc(broker.dropped_volatile - self._seen_dropped)
            self._seen_dropped = broker.dropped_volatile
        samples, stats.latency_samples = stats.latency_samples, []
        if samples:
            observe_many(metrics.publish_to_send, [max(0.0, sample) for sample in samples])

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
                if self.gps is not None:
                    self.gps.forget_idle(older_than_s=300.0)
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
