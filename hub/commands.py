"""What each client command does (protocol.md §2.2): one small handler per command.

Async handlers run on a connection's command task, in order. Inline handlers (``ping``, and
commands an extension registers such as ``gps``) run on the frame callback itself, with no
task and no await: they return the reply frame, or None, or raise ``ProtocolError``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from hub.auth import Authorizer, Principal, PublishRecorder
from hub.broker.base import BrokerUnavailable
from hub.codes import ErrorCode
from hub.connection import Connection
from hub.errors import HubError, ProtocolError
from hub.presence.base import PresenceStore
from hub.protocol import commands as c
from hub.protocol import frames
from hub.protocol.commands import Command, CommandId
from hub.subscribe import Authorize, Subscriptions
from hub.topics import TopicRegistry

__all__ = ["CommandHandlers", "InlineHandler"]

InlineHandler = Callable[[Principal, Any], bytes | None]
"""(the caller, the command) → the reply frame or None; raises ``ProtocolError`` for an error reply."""
Authenticate = Callable[[str, CommandId], Awaitable[Principal]]
Publish = Callable[[str, str, Any], Awaitable[Any]]


class CommandHandlers:
    def __init__(
        self,
        *,
        topics: TopicRegistry,
        subscriptions: Subscriptions,
        presence: PresenceStore,
        authorize: Authorize,
        authorizer: Authorizer,
        authenticate: Authenticate,
        publish: Publish,
        recorder: PublishRecorder | None,
    ) -> None:
        self._topics = topics
        self._subscriptions = subscriptions
        self._presence = presence
        self._authorize = authorize
        self._authorizer = authorizer
        self._authenticate = authenticate
        self._publish = publish
        self._recorder = recorder
        self._handlers: dict[type, Callable[[Connection, Any], Awaitable[None]]] = {
            c.Hello: self._hello,
            c.Subscribe: self._subscribe,
            c.Unsubscribe: self._unsubscribe,
            c.Publish: self._publish_command,
            c.Presence: self._presence_command,
            c.Refresh: self._refresh,
        }
        self._inline: dict[type, InlineHandler] = {c.Ping: _pong}

    def add_inline(self, command: type, handler: InlineHandler) -> None:
        self._inline[command] = handler

    def inline(self, command: Command) -> InlineHandler | None:
        return self._inline.get(type(command))

    async def run(self, conn: Connection, command: Command) -> None:
        handler = self._handlers.get(type(command))
        if handler is None:  # an inline command queued behind an async one: run it now, in order
            inline = self._inline[type(command)]
            assert conn.principal is not None
            reply = inline(conn.principal, command)
            if reply is not None:
                conn.push(reply)
            return
        await handler(conn, command)

    async def _hello(self, conn: Connection, command: c.Hello) -> None:
        raise ProtocolError(ErrorCode.BAD_REQUEST, "already authenticated: hello is only the first frame", command.id)

    async def _subscribe(self, conn: Connection, command: c.Subscribe) -> None:
        await self._subscriptions.subscribe(conn, command)

    async def _unsubscribe(self, conn: Connection, command: c.Unsubscribe) -> None:
        topic = self._topics.parse(command.topic, command.id)
        await self._subscriptions.detach(conn, topic.name)
        # protocol.md §2.2: nothing of that topic follows this reply (the detach was synchronous for fan-out)
        conn.push(frames.encode_unsubscribed(command.id, topic.name))

    async def _publish_command(self, conn: Connection, command: c.Publish) -> None:
        principal = conn.principal
        assert principal is not None
        topic = self._topics.parse(command.topic, command.id)
        try:
            await self._authorizer.authorize_publish(principal, topic)
        except HubError as exc:
            raise ProtocolError(exc.code, exc.message, command.id) from None
        try:
            pub = await self._publish(topic.name, command.event, command.data)
        except BrokerUnavailable:
            raise ProtocolError(ErrorCode.INTERNAL, "broker unavailable: not published", command.id) from None
        if self._recorder is not None:
            try:
                await self._recorder.published(principal, topic, command.event, command.data, pub.seq)
            except Exception:  # the notice is out: a failed record is logged, not reported as a failed publish
                conn.log.exception("recording a client publish failed")
        if command.id is not None:
            conn.push(frames.encode_published(command.id, topic.name, pub.seq))

    async def _presence_command(self, conn: Connection, command: c.Presence) -> None:
        topic = self._topics.parse(command.topic, command.id)
        await self._authorize(conn, topic, command.id)
        members = await self._presence.members(topic.name)
        conn.push(frames.encode_presence(command.id, topic.name, (m.as_frame() for m in members)))

    async def _refresh(self, conn: Connection, command: c.Refresh) -> None:
        assert conn.principal is not None
        principal = await self._authenticate(command.token, command.id)
        if principal.user_id != conn.principal.user_id:
            raise ProtocolError(ErrorCode.FORBIDDEN, "token belongs to another user", command.id)
        conn.principal = principal
        conn.push(frames.encode_refreshed(command.id, principal.expires_at))


def _pong(principal: Principal, command: c.Ping) -> bytes:
    return frames.encode_pong(command.id, time.time())
