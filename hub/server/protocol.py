"""The hub's uvicorn WebSocket protocol: the upgrade (:mod:`hub.server.upgrade`), then its own RFC 6455 framing.

uvicorn hands an upgrade request to the class given as ``ws`` (``uvicorn.Config``); this one parses
frames with :mod:`hub.wire` and offers the ``fusionx.raw`` scope extension, through which
:class:`~hub.server.raw.RawTransport` writes pre-framed bytes straight to the socket and, after
``hello``, receives frames by callback with no task per idle connection. Other ASGI apps get plain
ASGI websocket messages. Only public uvicorn attributes are used (``Config``, ``ServerState``).

Close codes the server itself decides (protocol.md §2.6): 1009 and 1007 from the framing, 4408 from the
heartbeat (4500 instead when bytes for the peer are still unwritten), 1001 when the process drains.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any, cast

from uvicorn.config import Config
from uvicorn.server import ServerState

from hub.codes import CloseCode, RfcCloseCode
from hub.server.asgi import AsgiBridge
from hub.server.handshake import Handshake
from hub.server.heartbeat import PING_FRAME, Heartbeat
from hub.server.inbox import Inbox, Message
from hub.server.upgrade import Upgrade
from hub.wire import CLOSED, OPEN, BinaryMessage, Close, Failure, ServerConnection, TextMessage

__all__ = ["HEARTBEAT_STATE_KEY", "HubWebSocketProtocol"]

log = logging.getLogger("hub.server")

HEARTBEAT_STATE_KEY = "hub.heartbeat"
"""Lifespan state key of the process's :class:`~hub.server.heartbeat.Heartbeat` (set by the application)."""

_CLOSE_TIMEOUT_S = 5.0  # how long the peer has to take what is buffered and answer our close frame
OnFrame = Callable[[bytes, bool], None]
OnLost = Callable[[int], None]


class HubWebSocketProtocol(asyncio.Protocol):
    send_buffer = 0  # bytes; set on a subclass by :func:`hub.server.options.uvicorn_ws_options`

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not config.loaded:
            config.load()
        self.config = config
        self.server_state = server_state
        self.app_state = app_state
        self.loop = _loop or asyncio.get_event_loop()
        self.transport: asyncio.Transport | None = None
        self.wire = ServerConnection(max_message_size=config.ws_max_size)
        self.upgrade = Upgrade(self, config, server_state, app_state)
        self.open = False  # the 101 was sent
        self.lost = False
        self._inbox = Inbox(self.loop, self.pause_reading, self.resume_reading)
        self._on_frame: OnFrame | None = None
        self._on_lost: OnLost | None = None
        self._lost_code: int | None = None
        self._writable = True
        self._write_waiter: asyncio.Future[None] | None = None
        self._reading = True
        self._awaiting_pong = False
        self._close_timer: asyncio.TimerHandle | None = None
        self.drain_callback: Callable[[], None] | None = None
        self.stall_callback: Callable[[], None] | None = None

    @property
    def asgi(self) -> AsgiBridge | None:
        """The ASGI side of the connection, once the application has the upgrade."""
        return self.upgrade.bridge

    # ---- asyncio.Protocol ----

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have every method used here.
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        self.server_state.connections.add(self)  # type: ignore[arg-type]  # uvicorn's set of live protocols
        if self.send_buffer > 0:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.send_buffer)
            transport.set_write_buffer_limits(high=self.send_buffer)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.server_state.connections.discard(self)
        self._stop_heartbeat()
        if self._close_timer is not None:
            self._close_timer.cancel()
        self._set_writable()  # asyncio never resumes writing on a lost transport: wake any waiter
        self._ended(self._lost_code if self._lost_code is not None else 1006)

    def pause_writing(self) -> None:
        self._writable = False

    def resume_writing(self) -> None:
        self._set_writable()

    def data_received(self, data: bytes) -> None:
        if not self.open:
            self.upgrade.receive(data)
            return
        wire = self.wire
        wire.receive_data(data)
        events = wire.events_received()
        self._awaiting_pong = False  # any frame from the peer shows it is alive
        for event in events:
            on_frame = self._on_frame  # a callback may detach or close the connection meanwhile
            if isinstance(event, TextMessage):
                if on_frame is not None:
                    on_frame(event.data, True)
                else:
                    self._inbox.hold(bytes(event.data).decode())  # valid UTF-8: the framing checked it
            elif isinstance(event, BinaryMessage):
                if on_frame is not None:
                    on_frame(bytes(event.data), False)
                else:
                    self._inbox.hold(bytes(event.data))
            elif isinstance(event, Close):
                self._lost_code = event.code if event.code is not None else 1005
            elif isinstance(event, Failure):
                self._lost_code = int(event.code)
        if wire.state is not OPEN or wire.has_data_to_send():  # usually neither: a data frame needs no answer
            self._flush_wire()

    def eof_received(self) -> bool | None:
        self.wire.receive_eof()
        return None

    # ---- the upgrade ----

    def write_accept(self, response: bytes) -> None:
        """The 101 is out: frames from here on; join the heartbeat."""
        assert self.transport is not None
        self.transport.write(response)
        self.open = True
        heartbeat = self.app_state.get(HEARTBEAT_STATE_KEY)
        if isinstance(heartbeat, Heartbeat):
            heartbeat.add(self)

    def write_and_close(self, data: bytes) -> None:
        """An HTTP answer instead of the upgrade: write it, then close the connection."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)
            self.transport.close()

    # ---- messages to the application (before the hub detaches: the inbox; after: callbacks) ----

    async def next_message(self) -> Message:
        """The next message for the application, or an ``int`` close code once the socket is gone."""
        return await self._inbox.next()

    def detach(self, on_frame: OnFrame, on_lost: OnLost) -> None:
        """After ``hello``: every message is a call, and no task waits per idle connection."""
        held = self._inbox.take_all()
        self._on_frame, self._on_lost = on_frame, on_lost
        self.upgrade.settled()
        for message in held:  # what arrived before the switch, in order
            if isinstance(message, int):
                continue
            on_frame(message if isinstance(message, bytes) else message.encode(), isinstance(message, str))
        self.resume_reading()
        if self.lost:
            self._ended(self._lost_code or 1006)

    def _ended(self, code: int) -> None:
        self.upgrade.settled()
        on_lost, self._on_lost = self._on_lost, None
        self._on_frame = None
        if on_lost is not None:
            on_lost(code)
            return
        self._inbox.hold(code)

    # ---- writing ----

    def _set_writable(self) -> None:
        self._writable = True
        waiter, self._write_waiter = self._write_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def try_write(self, data: bytes) -> bool:
        transport = self.transport
        if self._writable and self.wire.state is OPEN and transport is not None and not self.lost:
            transport.write(data)
            return True
        return False

    async def wait_writable(self) -> None:
        while not self._writable and not self.lost:
            if self._write_waiter is None or self._write_waiter.done():
                self._write_waiter = self.loop.create_future()
            await asyncio.shield(self._write_waiter)

    def write_frames(self, data: bytes) -> None:
        if self.wire.state is OPEN and self.transport is not None and not self.lost:
            self.transport.write(data)

    def pause_reading(self) -> None:
        if self._reading and self.transport is not None and not self.lost:
            self._reading = False
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if not self._reading and self.transport is not None and not self.lost:
            self._reading = True
            self.transport.resume_reading()

    # ---- closing ----

    def close(self, code: int, reason: str) -> None:
        """Our close frame goes behind whatever is buffered; the peer has a moment to answer, then TCP closes."""
        if self.lost or not self.wire.send_close(code, reason):
            return
        self._lost_code = code
        self._flush_wire()
        self.resume_reading()  # to read the peer's answer even from a reader we had paused
        self._close_timer = self.loop.call_later(_CLOSE_TIMEOUT_S, self._abort)
        # Nothing more goes to this peer: the hub forgets it now rather than when its answer comes back.
        self._ended(code)

    def _abort(self) -> None:
        """The peer did not answer our close in time: drop what it never read and end the connection."""
        if self.transport is not None:
            self.transport.abort()

    def _flush_wire(self) -> None:
        """Write what the framing produced (pongs, close frames); close TCP once the handshake is over."""
        transport = self.transport
        writes = self.wire.data_to_send()
        if transport is None or self.lost:
            return
        if writes:
            transport.write(writes[0] if len(writes) == 1 else b"".join(writes))
        if self.wire.state is CLOSED and not transport.is_closing():
            transport.close()

    def beat(self) -> None:
        """Called by the heartbeat (protocol.md §2.7): 4408 when the last ping went unanswered."""
        if self.lost or self.wire.state is not OPEN:
            self._stop_heartbeat()
            return
        if self._awaiting_pong:
            self._stop_heartbeat()
            if self._unwritten():
                self._stalled()
                return
            self._lost_code = int(CloseCode.TIMEOUT)
            self.wire.fail(int(CloseCode.TIMEOUT), "heartbeat lost")
            self._flush_wire()
            return
        self._awaiting_pong = True
        if self.transport is not None:
            self.transport.write(PING_FRAME)

    def _unwritten(self) -> bool:
        """Bytes for the peer still wait above the kernel (asyncio's buffer, or the hub's queue behind a pause)."""
        transport = self.transport
        return not self._writable or (transport is not None and transport.get_write_buffer_size() > 0)

    def _stalled(self) -> None:
        """protocol.md §2.6: a peer that stopped reading is a slow consumer (4500), not a lost heartbeat (4408).

        Kernel buffers can hide megabytes, so its queue may never overflow before the heartbeat gives up on
        it; the operator must still see "not reading". The owner of the connection (the hub) closes it, so
        its bookkeeping and metrics tell the same story; a connection nobody owns yet is closed here.
        """
        if self.stall_callback is not None:
            self.stall_callback()
        else:
            self.close(int(CloseCode.SLOW_CONSUMER), "not reading")

    def _stop_heartbeat(self) -> None:
        heartbeat = self.app_state.get(HEARTBEAT_STATE_KEY)
        if isinstance(heartbeat, Heartbeat):
            heartbeat.discard(self)

    def shutdown(self) -> None:
        """SIGTERM (uvicorn): the hub flushes and closes 1001; sockets it does not own close 1001 now."""
        if self.lost:
            return
        if not self.open:
            self.write_and_close(Handshake(b"").refuse(503, b"server shutting down\n"))
            return
        if self.drain_callback is not None:
            self.drain_callback()
            return
        self.close(int(RfcCloseCode.GOING_AWAY), "server shutting down")
