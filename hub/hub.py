"""The composition root of a hub node: builds the pieces, starts and drains them, and is the app's API.

Pieces, each importing only what is below it::

    codes, errors, config, metrics, tasks      leaves
    protocol/ (command table), wire/           sans-I/O
    history, broker/, presence/, continuity    streams and where they live
    outbox, sender, transport, server/         getting bytes out
    connection                                 one client (talks up through ConnectionHost)
    registry → fanout → subscribe → commands   who is here, delivery, subscribing, command handlers
    lobby, ticker                              a connection's way in and out; the per-second chores
    hub (this module)                          wiring, publishing, the control channel

The application uses only this class: ``publish``, ``publish_encoded``, ``publish_volatile``,
``position``, ``close_everywhere``/``close_matching``, ``broker_up``/``ping_broker``,
``every_second``, ``flush_metrics``, ``spawn``; and plugs in topic families, commands and the
``Authenticator``/``Authorizer``/``DeviceTracker`` Protocols.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

import orjson

from hub.auth import Authenticator, Authorizer, ConnectionMatch, DeviceTracker, Principal, PublishRecorder
from hub.broker.base import Broker, BrokerUnavailable
from hub.codes import CloseCode, ErrorCode
from hub.commands import CommandHandlers, InlineHandler
from hub.config import HubConfig
from hub.connection import Connection
from hub.connection_kit import ConnectionKit
from hub.continuity import Continuity
from hub.fanout import Fanout
from hub.hello_gate import QUEUE_PER_SLOT
from hub.history import Publication
from hub.lobby import Lobby
from hub.metrics import HubMetrics
from hub.offline import OfflineBook
from hub.presence.base import PresenceStore
from hub.protocol.commands import CommandId, CommandSpec, Position, core_commands
from hub.protocol.table import CommandTable
from hub.registry import Registry
from hub.sender import Corker, SendStats
from hub.server.heartbeat import Heartbeat
from hub.server.pacer import UpgradePacer
from hub.subscribe import Subscriptions, authorizing
from hub.tasks import TaskSet
from hub.ticker import Ticker
from hub.topics import TopicRegistry
from hub.transport import FrameTransport

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
        commands: Iterable[tuple[CommandSpec, InlineHandler | None]] = (),
        publish_recorder: PublishRecorder | None = None,
    ) -> None:
        if not broker.single_node and not presence.shared:
            raise ValueError(
                "a broker shared by several nodes needs a presence store they share too (e.g. Redis): "
                "with one per process, each node would list only its own members"
            )
        self.config = config
        self.broker = broker
        self.topics = topics
        self.metrics = metrics
        self.tasks = TaskSet()
        self.heartbeat = Heartbeat(config.heartbeat_s)
        """Pings every raw socket of the process from one timer (``hub.server``); in the lifespan state."""
        self.upgrades = UpgradePacer(
            config.max_opening_sockets,
            queue=QUEUE_PER_SLOT * config.max_opening_sockets,
            refused=metrics.overload_refusals.labels("upgrade").inc,
            report=metrics.upgrades_waiting.set,
        )
        """Paces the 101s of a reconnect storm (``hub.server.pacer``); in the lifespan state."""
        extra = list(commands)
        stats = SendStats()
        corker = Corker(stats)
        self._registry = registry = Registry()
        self._fanout = fanout = Fanout(registry, topics, corker)
        if not broker.single_node:
            fanout.continuity = Continuity(
                broker, self.tasks, deliver=fanout.deliver, lost=fanout.close_topic, counted=self._count_gap
            )
        authorize = authorizing(authorizer)
        self._subscriptions = subscriptions = Subscriptions(
            registry=registry, topics=topics, fanout=fanout, broker=broker, presence=presence,
            authorize=authorize, max_subscriptions=config.max_subscriptions,
        )  # fmt: skip
        handlers = CommandHandlers(
            topics=topics, subscriptions=subscriptions, presence=presence, authorize=authorize,
            authorizer=authorizer, authenticate=self._authenticate, publish=self.publish, recorder=publish_recorder,
        )  # fmt: skip
        for spec, inline in extra:
            if inline is not None:
                handlers.add_inline(spec.command, inline)
        self._offline = OfflineBook(devices, self.tasks, connected=registry.has_device)
        self._lobby = Lobby(
            config=config, registry=registry, subscriptions=subscriptions, handlers=handlers,
            authenticator=authenticator, devices=devices, offline=self._offline, metrics=metrics,
        )  # fmt: skip
        table = CommandTable(
            [*core_commands(config.device_kinds, config.hello_credentials), *(spec for spec, _ in extra)]
        )
        self._kit = ConnectionKit(config, table, corker, stats, self.tasks, metrics)
        self._ticker = Ticker(
            config=config, registry=registry, stats=stats, metrics=metrics, broker=broker, devices=devices,
        )  # fmt: skip
        self._ticking: asyncio.Task[None] | None = None

    # ---- lifecycle ----

    async def start(self) -> None:
        if self.broker.single_node:
            await self.broker.start(self._fanout.on_publication)
        else:
            continuity = self._fanout.continuity
            assert continuity is not None
            await self.broker.subscribe([CONTROL_TOPIC])
            await self.broker.start(self._on_publication, continuity.check_all)
        self._ticking = self.tasks.spawn(self._ticker.run(), name="hub-ticker")

    async def drain(self, deadline: float | None = None) -> None:
        """Close every connection 1001 after flushing, write the devices that went offline, cancel the rest.

        All by ``deadline`` (monotonic; default: the hub's share of ``drain_s`` from now, see
        :attr:`HubConfig.hub_drain_s`): under our uvicorn protocol the sockets were already closed in the
        web server's share, and the two phases together must fit ``HUB_DRAIN_S`` (protocol.md §3).
        """
        for conn in list(self._registry.connections.values()):
            conn.drain()
        end = deadline if deadline is not None else time.monotonic() + self.config.hub_drain_s
        # Slices kept inside the budget: one for the last offline write, one for cancelled tasks to unwind.
        reserve = max(0.0, min(1.0, (end - time.monotonic()) / 4))
        while self._registry.connections and time.monotonic() < end - 2 * reserve:
            await asyncio.sleep(0.05)
        if self._ticking is not None:
            self._ticking.cancel()
        self.heartbeat.stop()
        await self._offline.flush(end - reserve - time.monotonic())  # the devices that went offline
        await self.tasks.cancel_all(max(0.0, end - reserve - time.monotonic()), "hub draining", grace=reserve)

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        """Run a background task of the application's with the node's (logged, drained) tasks."""
        return self.tasks.spawn(coro, name=name)

    # ---- connections ----

    def connection(self, transport: FrameTransport) -> Connection:
        """A new connection on ``transport``, ready to ``serve()``."""
        return Connection(self._lobby, transport, f"{self.config.node_id}-{secrets.token_hex(6)}", self._kit)

    @property
    def connection_count(self) -> int:
        return len(self._registry)

    async def _authenticate(self, token: str, command_id: CommandId) -> Principal:
        return await self._lobby.authenticate(token, command_id)

    def close_matching(self, match: ConnectionMatch, code: CloseCode, reason: str) -> int:
        """Close (after flushing) this node's connections that ``match``; returns how many."""
        matched = [
            c
            for c in self._registry.connections.values()
            if c.principal is not None and match.matches(c.principal, c.device.id if c.device else None)
        ]
        for conn in matched:
            if code is CloseCode.UNAUTHORIZED:
                conn.push_error(ErrorCode.UNAUTHORIZED, reason)
            conn.request_close(code, reason, flush=True)
        return len(matched)

    async def close_everywhere(self, match: ConnectionMatch, code: CloseCode, reason: str) -> int:
        """Close matching connections on every node (logout, revocation, device removed); returns how many here.

        Other nodes hear it through the broker at once. If the broker is down they do not; the
        application's own durable path (e.g. a watch of revoked sessions) must cover that.
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
            self._fanout.on_publication(pub)
            return
        try:
            message = orjson.loads(pub.data)
            if message["node"] != self.config.node_id and pub.event == "close":
                match = ConnectionMatch.from_dict(message["match"])
                self.close_matching(match, CloseCode(message["code"]), message["reason"])
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed control message: %r", pub.data[:200])

    # ---- publishing ----

    async def publish(
        self, topic: str, event: str, data: Any, *, key: str | None = None, guard: int | None = None
    ) -> Publication | None:
        """Publish an application event; returns once the broker stored it (seq assigned) and delivered it locally.

        ``guard`` makes a retry safe: see :meth:`publish_encoded`.

        Raises:
            ProtocolError: ``not_found`` for a topic of no registered family.
            BrokerUnavailable: the broker is down; nothing was published.
        """
        return await self.publish_encoded(topic, event, orjson.dumps(data), key=key, guard=guard)

    async def publish_encoded(
        self, topic: str, event: str, payload: bytes, *, key: str | None = None, guard: int | None = None
    ) -> Publication | None:
        """Publish ``payload`` (JSON, encoded once by the caller, e.g. when it was stored in an outbox).

        With ``guard`` (increasing per topic), a publication whose guard is not above the topic's
        last one is a repeat of one already stored: nothing happens and None is returned.

        Raises:
            ProtocolError: ``not_found`` for a topic of no registered family.
            BrokerUnavailable: the broker is down; nothing was published.
        """
        parsed = self.topics.parse(topic)
        pub = await self.broker.publish(
            topic, event, payload, reliable=parsed.reliable, ts=time.time(), key=key, guard=guard
        )
        if pub is not None:
            self.metrics.events_published.labels(parsed.family.name).inc()
        return pub

    def publish_volatile(self, topic: str, event: str, payload: bytes, ts: float, key: str) -> None:
        """Fire-and-forget publication on a conflated topic: no history, no await, may be dropped."""
        if self.broker.single_node and not self._subscriptions.listened(topic):
            return  # nobody anywhere listens
        self.broker.publish_volatile(topic, event, payload, ts=ts, key=key)

    def crowded(self) -> bool:
        """Whether the server should refuse a new socket's upgrade now (every hello slot taken; counted)."""
        return self._lobby.crowded()

    async def position(self, topic: str) -> Position:
        """The topic's current top (``seq``/``epoch``), for snapshot endpoints (protocol.md §3)."""
        self.topics.parse(topic)
        return await self.broker.position(topic)

    # ---- health and metrics ----

    @property
    def broker_up(self) -> bool:
        return self.broker.up

    def ping_broker(self) -> Awaitable[None]:
        return self.broker.ping()

    def every_second(self, chore: Callable[[], None]) -> None:
        self._ticker.every_second(chore)

    def flush_metrics(self) -> None:
        """Fold the hot path's plain counters into Prometheus (each second, and before a scrape)."""
        self._ticker.flush()

    def _count_gap(self, outcome: str) -> None:
        self.metrics.stream_gaps.labels(outcome).inc()
