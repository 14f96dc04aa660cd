"""Handlers of the client commands of protocol.md §2.2, one small method each."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from hub.broker.base import BrokerUnavailable
from hub.codes import ErrorCode
from hub.errors import HubError, ProtocolError
from hub.protocol import commands as c
from hub.protocol import frames
from hub.protocol.commands import CommandId
from hub.topics import Topic

if TYPE_CHECKING:
    from hub.connection import Connection
    from hub.hub import Hub

__all__ = ["Dispatcher"]


class Dispatcher:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._handlers: dict[type, Callable[[Connection, Any], Awaitable[None]]] = {
            c.Hello: self._hello,
            c.Subscribe: self._subscribe,
            c.Unsubscribe: self._unsubscribe,
            c.Publish: self._publish,
            c.Presence: self._presence,
            c.Refresh: self._refresh,
            c.Ping: self._ping,
            c.Gps: self._gps,
        }

    async def dispatch(self, conn: Connection, command: c.Command) -> None:
        await self._handlers[type(command)](conn, command)

    async def authorize_subscribe(self, conn: Connection, topic: Topic, command_id: CommandId) -> None:
        assert conn.principal is not None
        try:
            await self.hub.authorizer.authorize_subscribe(conn.principal, topic)
        except ProtocolError:
            raise
        except HubError as exc:
            raise ProtocolError(exc.code, exc.message, command_id) from None

    async def _hello(self, conn: Connection, command: c.Hello) -> None:
        raise ProtocolError(ErrorCode.BAD_REQUEST, "already authenticated: hello is only the first frame", command.id)

    async def _subscribe(self, conn: Connection, command: c.Subscribe) -> None:
        await self.hub.subscribe(conn, command)

    async def _unsubscribe(self, conn: Connection, command: c.Unsubscribe) -> None:
        topic = self.hub.topics.parse(command.topic, command.id)
        await self.hub.unsubscribe(conn, topic.name)
        # protocol.md §2.2: nothing of that topic follows this reply (the detach above was synchronous for fan-out)
        conn.push(frames.encode({"type": "unsubscribed", "id": command.id, "topic": topic.name}))

    async def _publish(self, conn: Connection, command: c.Publish) -> None:
        assert conn.principal is not None
        topic = self.hub.topics.parse(command.topic, command.id)
        try:
            await self.hub.authorizer.authorize_publish(conn.principal, topic)
        except HubError as exc:
            raise ProtocolError(exc.code, exc.message, command.id) from None
        try:
            pub = await self.hub.publish(topic.name, command.event, command.data)
        except BrokerUnavailable:
            raise ProtocolError(ErrorCode.INTERNAL, "broker unavailable: not published", command.id) from None
        recorder = self.hub.publish_recorder
        if recorder is not None:
            try:
                await recorder.published(conn.principal, topic, command.event, command.data, pub.seq)
            except Exception:  # the notice is out: a failed record is logged, not reported as a failed publish
                conn.log.exception("recording a client publish failed")
        if command.id is not None:
            conn.push(frames.encode({"type": "published", "id": command.id, "topic": topic.name, "seq": pub.seq}))

    async def _presence(self, conn: Connection, command: c.Presence) -> None:
        topic = self.hub.topics.parse(command.topic, command.id)
        await self.authorize_subscribe(conn, topic, command.id)
        members = await self.hub.presence.members(topic.name)
        frame = {
            "type": "presence",
            "id": command.id,
            "topic": topic.name,
            "members": [m.as_frame() for m in members],
        }
        conn.push(frames.encode(frame))

    async def _refresh(self, conn: Connection, command: c.Refresh) -> None:
        assert conn.principal is not None
        principal = await self.hub.authenticate(command.token, command.id)
        if principal.user_id != conn.principal.user_id:
            raise ProtocolError(ErrorCode.FORBIDDEN, "token belongs to another user", command.id)
        conn.principal = principal
        conn.push(frames.encode({"type": "refreshed", "id": command.id, "expires_at": principal.expires_at}))

    async def _ping(self, conn: Connection, command: c.Ping) -> None:
        conn.push(frames.encode({"type": "pong", "id": command.id, "server_time": time.time()}))

    async def _gps(self, conn: Connection, command: c.Gps) -> None:
        self.gps_now(conn, command)

    def gps_now(self, conn: Connection, command: c.Gps) -> None:
        """Synchronous: the detached path runs it inline on the frame callback, like ``ping``."""
        gps = self.hub.gps
        if gps is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "GPS ingest is not enabled on this hub", command.id)
        gps.ingest(conn, command)
        if command.id is not None:
            conn.push(frames.encode({"type": "ack", "id": command.id}))
