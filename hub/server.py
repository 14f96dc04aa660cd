"""A uvicorn WebSocket protocol with the hub's close codes and a raw write path.

Plain ASGI cannot say "close 4408 when the heartbeat is lost" or "close 1001 on
drain", and pays one awaited ``send`` per frame. :class:`HubWebSocketProtocol`
extends uvicorn's sans-I/O protocol: it offers the ``fusionx.raw`` scope extension
(used by :class:`RawTransport`) to write pre-framed bytes straight to the socket,
closes 4408 on a lost pong (protocol.md §2.7), and on SIGTERM asks the hub to
flush and close 1001 (§3 "Graceful shutdown"). Other ASGI servers still work
through :class:`hub.transport.AsgiTransport`.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

from starlette.types import Receive, Send
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request
from websockets.protocol import Protocol
from websockets.server import ServerProtocol

from hub.codes import CloseCode
from hub.config import HubConfig
from hub.transport import RAW_EXTENSION, AsgiTransport, OnFrame, OnLost

__all__ = ["HubWebSocketProtocol", "RawTransport", "uvicorn_ws_options"]

_DRAIN_CLOSE_TIMEOUT_S = 2.0


def uvicorn_ws_options(config: HubConfig) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.Config`` that make the server honour ``config``."""
    protocol: type[HubWebSocketProtocol] = HubWebSocketProtocol
    if config.send_buffer_bytes > 0:
        capped = {"send_buffer": config.send_buffer_bytes}
        protocol = type("CappedHubWebSocketProtocol", (HubWebSocketProtocol,), capped)
    return {
        "ws": protocol,
        "ws_max_size": config.max_frame_bytes,  # larger frames close 1009 (protocol.md §2.6)
        "ws_ping_interval": config.heartbeat_s,
        "ws_ping_timeout": config.heartbeat_s,
        "ws_per_message_deflate": False,  # identical bytes for every subscriber
        "timeout_graceful_shutdown": config.drain_s,
    }


class _Inbox:
    """Stands in for uvicorn's receive queue once a connection is detached: messages become calls."""

    __slots__ = ("lost", "on_frame", "on_lost")

    def __init__(self, on_frame: OnFrame, on_lost: OnLost) -> None:
        self.on_frame = on_frame
        self.on_lost = on_lost
        self.lost = False

    def put_nowait(self, message: dict[str, Any]) -> None:
        if message["type"] == "websocket.receive":
            text = message.get("text")
            self.on_frame(text, True) if text is not None else self.on_frame(message.get("bytes") or b"", False)
        elif message["type"] == "websocket.disconnect" and not self.lost:
            self.lost = True
            self.on_lost(int(message.get("code", 1005)))


class _WritableFlag:
    """What uvicorn needs of ``asyncio.Event`` for ``writable``, without a waiter deque per connection."""

    __slots__ = ("_set", "_waiter")

    def __init__(self) -> None:
        self._set = True
        self._waiter: asyncio.Future[None] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> None:
        while not self._set:
            if self._waiter is None or self._waiter.done():
                self._waiter = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._waiter)


def _release_handshake_parser(conn: ServerProtocol) -> None:
    """Swap websockets' handshake parser for its frame parser, at a frame boundary only.

    ``ServerProtocol.parse`` keeps the parsed HTTP request (headers and all, ~2 KB) alive as a
    local for the whole connection. Its frame loop is ``Protocol.parse``; when the innermost
    delegate is ``at_eof`` with nothing buffered, no frame is half-read and the swap is exact
    (websockets swaps parsers the same way when closing).
    """
    inner = conn.parser
    while inner.gi_yieldfrom is not None:  # type: ignore[attr-defined]
        inner = inner.gi_yieldfrom  # type: ignore[attr-defined]
    if inner.gi_code.co_name == "at_eof" and not conn.reader.buffer:  # type: ignore[attr-defined]
        conn.parser = Protocol.parse(conn)
        next(conn.parser)


class HubWebSocketProtocol(WebSocketsSansIOProtocol):
    drain_callback: Callable[[], None] | None = None
    inbox: _Inbox | None = None
    send_buffer = 0  # HubConfig.send_buffer_bytes

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.writable = _WritableFlag()  # type: ignore[assignment]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self.send_buffer > 0:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.send_buffer)
            assert isinstance(transport, asyncio.WriteTransport)
            transport.set_write_buffer_limits(high=self.send_buffer)

    def detach(self, on_frame: OnFrame, on_lost: OnLost) -> None:
        """After the handshake: deliver messages by callback, so no task waits per idle connection."""
        queued, inbox = self.queue, _Inbox(on_frame, on_lost)
        self.inbox = inbox
        self.queue = inbox  # type: ignore[assignment]  # uvicorn only calls put_nowait from here on
        while not queued.empty():  # frames that arrived before the switch, in order
            inbox.put_nowait(queued.get_nowait())  # type: ignore[arg-type]
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        # The handshake's request/response objects are no longer needed; free them.
        self.request = None  # type: ignore[assignment]
        self.response = None  # type: ignore[assignment]
        _release_handshake_parser(self.conn)

    def send_receive_event_to_app(self) -> None:
        inbox = self.inbox
        if inbox is None:
            super().send_receive_event_to_app()
            return
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        if not self.close_sent:
            # orjson validates UTF-8 itself: a bad text frame becomes bad_request, not a decode here.
            inbox.on_frame(data, self.curr_msg_data_type == "text")

    async def run_asgi(self) -> None:
        """uvicorn's, except that an app that detached the connection returns without closing it."""
        try:
            await self.app(self.scope, self.receive, self.send)
        except ClientDisconnected:
            pass
        except BaseException:
            self.logger.exception("Exception in ASGI application\n")
            self.send_500_response()
        else:
            if not self.handshake_complete:
                self.logger.error("ASGI callable returned without completing handshake.")
                self.send_500_response()
        if self.inbox is None and self.close_timer is None:
            self.transport.close()
        self.scope = None  # type: ignore[assignment]  # detached: the connection lives on without its scope

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            # The ASGI task is scheduled but has not run yet: the extension is in place before it reads the scope.
            scope["extensions"][RAW_EXTENSION] = {"protocol": self}

    def keepalive_timeout(self) -> None:
        """protocol.md §2.7: a pong missing for another ``heartbeat_s`` closes 4408 (uvicorn would say 1011)."""
        self.pong_timer = None
        self.pending_ping_payload = None
        if self.close_sent or self.transport.is_closing():
            return
        self.queue.put_nowait({"type": "websocket.disconnect", "code": int(CloseCode.TIMEOUT)})
        self.conn.fail(int(CloseCode.TIMEOUT), "heartbeat lost")
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.transport.close()

    def shutdown(self) -> None:
        """SIGTERM: let the hub flush and close 1001; without a hub connection, close 1001 at once."""
        if not self.handshake_complete or self.close_sent or self.disconnected:
            super().shutdown()
            return
        self.stop_keepalive()
        self.close_timeout = _DRAIN_CLOSE_TIMEOUT_S
        if self.drain_callback is not None:
            self.drain_callback()
            return
        self.queue.put_nowait({"type": "websocket.disconnect", "code": int(CloseCode.GOING_AWAY)})
        self.conn.send_close(int(CloseCode.GOING_AWAY), "server shutting down")
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.transport.close()


class RawTransport(AsgiTransport):
    """Writes pre-framed text frames straight to the socket; waits only when the kernel buffer is full."""

    __slots__ = ("_proto",)

    def __init__(self, protocol: HubWebSocketProtocol, receive: Receive, send: Send) -> None:
        super().__init__(receive, send)
        self._proto = protocol

    direct = True

    def try_write(self, data: bytes) -> bool:
        proto = self._proto
        if proto.writable.is_set() and not proto.close_sent and not proto.disconnected:
            proto.transport.write(data)
            return True
        return False

    async def wait_writable(self) -> None:
        writable = self._proto.writable
        if not writable.is_set():
            await writable.wait()

    async def send_frames(self, frames: list[bytes]) -> None:
        proto = self._proto
        if not proto.close_sent and not proto.disconnected:
            proto.transport.write(frames[0] if len(frames) == 1 else b"".join(frames))

    async def close(self, code: int, reason: str) -> None:
        """Queue the close frame behind what is buffered, without waiting for the peer to read (a slow
        consumer's buffer may never drain), then give the peer ``close_timeout`` to answer."""
        proto = self._proto
        if self._closed or proto.close_sent or proto.disconnected or proto.transport.is_closing():
            return
        self._closed = True
        proto.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        proto.conn.send_close(code, reason)
        proto.transport.write(b"".join(proto.conn.data_to_send()))
        proto.close_sent = True
        if proto.read_paused:
            proto.read_paused = False
            proto.transport.resume_reading()
        proto.close_timer = proto.loop.call_later(proto.close_timeout, proto.transport.close)

    def on_drain(self, callback: Any) -> None:
        self._proto.drain_callback = callback

    def detach(self, on_frame: OnFrame, on_lost: OnLost) -> bool:
        self._proto.detach(on_frame, on_lost)
        return True
