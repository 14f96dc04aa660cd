"""A connection's way in and out of the node: authenticate, admit, welcome, count, run commands, forget.

:class:`Lobby` is the node's side of :class:`~hub.connection.ConnectionHost`. It owns no policy:
who a token belongs to and which devices may register are the application's (``Authenticator``,
``DeviceTracker``); the per-user socket cap and the bookkeeping are the node's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from hub.auth import Authenticator, DeviceTracker, Principal
from hub.codes import CloseCode, ErrorCode
from hub.commands import CommandHandlers
from hub.config import HubConfig
from hub.connection import Connection
from hub.errors import CloseConnection, HubError
from hub.hello_gate import QUEUE_PER_SLOT, HelloGate
from hub.metrics import HubMetrics
from hub.offline import OfflineBook
from hub.protocol import frames
from hub.protocol.commands import Command, CommandId
from hub.registry import Registry
from hub.subscribe import Subscriptions

__all__ = ["Lobby"]


class Lobby:
    def __init__(
        self,
        *,
        config: HubConfig,
        registry: Registry,
        subscriptions: Subscriptions,
        handlers: CommandHandlers,
        authenticator: Authenticator,
        devices: DeviceTracker,
        offline: OfflineBook,
        metrics: HubMetrics,
    ) -> None:
        self._config = config
        self._registry = registry
        self._subscriptions = subscriptions
        self._handlers = handlers
        self._authenticator = authenticator
        self._devices = devices
        self._offline = offline
        self._metrics = metrics
        refusals = metrics.overload_refusals
        self._gate = HelloGate(
            config.max_pending_hellos,
            queue=QUEUE_PER_SLOT * config.max_pending_hellos,
            wait_s=config.hello_queue_s,
            refused=lambda what: refusals.labels(what).inc(),
            report=metrics.hellos_waiting.set,
        )

    def crowded(self) -> bool:
        """Every hello slot busy and the queue full: the server refuses the upgrade itself then (HTTP 503
        with ``Retry-After``, before any WebSocket work), a fraction of the cost of accepting the socket,
        reading its hello and closing it. Counted as ``hub_overload_refusals_total{what="upgrade"}``."""
        return self._gate.crowded()

    def admitting(self) -> AbstractAsyncContextManager[None]:
        """A slot among the hellos at work on the application (its database), waited for briefly.

        In a reconnect storm every tablet says hello at once; queued without bound behind the database
        pool, most would time out on the client's side and retry, each retry adding to the queue. A
        hello that cannot get a slot soon is closed 1013 and its client backs off with jitter and tries
        again (any node); see :mod:`hub.hello_gate`.
        """
        return self._gate.admitting()

    async def authenticate(self, token: str, command_id: CommandId, credential: str = "token") -> Principal:
        """The principal of an access token; a bad one ends the connection (protocol.md §2.5: error then 4401).

        Raises:
            CloseConnection: 4401, with an ``unauthorized`` error frame echoing ``command_id``.
        """
        try:
            return await self._authenticator.authenticate(token, credential)
        except CloseConnection as exc:  # the authenticator chose the close (e.g. 1011: cannot check the token now)
            exc.command_id = command_id if exc.command_id is None else exc.command_id
            raise
        except HubError as exc:
            raise CloseConnection(
                CloseCode.UNAUTHORIZED, exc.message, error=ErrorCode.UNAUTHORIZED, command_id=command_id
            ) from None

    async def admit(self, conn: Connection) -> None:
        """Before ``welcome``: the per-user socket cap, then the device's registration (which may refuse).

        Raises:
            CloseConnection: 4429 with ``rate_limited`` when the user holds too many sockets or devices.
        """
        principal = conn.principal
        assert principal is not None
        cap = self._config.max_sockets_per_user
        if self._registry.sockets_of(principal.user_id) >= cap:
            raise CloseConnection(
                CloseCode.RATE_LIMITED,
                f"at most {cap} open sockets per user on this node: close another first",
                error=ErrorCode.RATE_LIMITED,
            )
        device = conn.tracked_device  # None for a guest: a guest's phone never gets a device row
        if device is not None:
            self._offline.cancel((principal.user_id, device.id))  # back before its offline mark was written
            try:
                await self._devices.connected(principal, device)
            except HubError as exc:
                raise CloseConnection(CloseCode.RATE_LIMITED, exc.message, error=exc.code) from None

    def welcome(self, conn: Connection, command_id: CommandId) -> bytes:
        assert conn.principal is not None
        cfg = self._config
        limits = {
            "max_frame_bytes": cfg.max_frame_bytes,
            "max_subscriptions": cfg.max_subscriptions,
            "commands_per_s": cfg.commands_per_s,
            "gps_per_s": cfg.gps_per_s,
            "outbound_queue": cfg.outbound_queue,
            "history_size": cfg.history_size,
            "history_ttl_s": cfg.history_ttl_s,
        }
        return frames.encode_welcome(
            conn.conn_id,
            cfg.node_id,
            conn.principal.public,
            extra=conn.principal.welcome,
            heartbeat_s=cfg.heartbeat_s,
            limits=limits,
            server_time=time.time(),
            cid=command_id,
        )

    def opened(self, conn: Connection) -> None:
        self._registry.add(conn)
        self._metrics.connections.labels(conn.kind).inc()

    def inline(self, command: Command) -> Callable[[Principal, Any], bytes | None] | None:
        return self._handlers.inline(command)

    async def run(self, conn: Connection, command: Command) -> None:
        await self._handlers.run(conn, command)

    async def closed(self, conn: Connection, code: str, by: str) -> None:
        """Remove every trace of a closed connection."""
        self._metrics.disconnects.labels(code, by).inc()
        last_device_socket = self._registry.remove(conn)
        if last_device_socket is None:  # never opened (refused, or gone during the handshake)
            return
        self._metrics.connections.labels(conn.kind).dec()
        device = conn.tracked_device
        if last_device_socket and device is not None and conn.principal is not None:
            # Written behind, in batches; recorded before any await so a hello of the same device cannot slip
            # between its socket leaving the registry and its offline mark being queued. Guests never get here.
            self._offline.add((conn.principal.user_id, device.id))
        for topic in list(conn.topics):
            await self._subscriptions.detach(conn, topic)
        conn.log.info("connection closed code=%s by=%s", code, by)
