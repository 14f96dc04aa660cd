"""How a connection reaches its socket: plain ASGI, or the raw fast path of :mod:`hub.server`.

``receive`` returns ``str`` (text frame), ``bytes`` (binary frame) or ``int`` (the
socket is gone; the close code).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from starlette.types import Receive, Send

from hub.protocol.wsframe import payload_of

__all__ = ["RAW_EXTENSION", "AsgiTransport", "FrameTransport", "OnFrame", "OnLost"]

OnFrame = Callable[[bytes, bool], None]
OnLost = Callable[[int], None]

RAW_EXTENSION = "fusionx.raw"
"""ASGI scope extension offered by :class:`hub.server.HubWebSocketProtocol`."""


class FrameTransport(Protocol):
    async def accept(self) -> None: ...

    async def receive(self) -> str | bytes | int: ...

    direct: bool
    """True when ``try_write`` can write synchronously (the fast path)."""

    def try_write(self, data: bytes) -> bool:
        """Write wire bytes now if the socket is not backpressured; False means "queue it"."""
        ...

    async def wait_writable(self) -> None: ...

    async def send_frames(self, frames: list[bytes]) -> None:
        """Write complete wire frames (see :func:`hub.protocol.wsframe.text_frame`) in order."""
        ...

    async def close(self, code: int, reason: str) -> None: ...

    def on_drain(self, callback: Any) -> None:
        """Register what to do when the server drains (close 1001 after flushing)."""
        ...

    def on_stall(self, callback: Any) -> None:
        """Register what to do when the server finds the peer stopped reading (close 4500 at once)."""
        ...

    def detach(self, on_frame: OnFrame, on_lost: OnLost) -> bool:
        """Switch to callbacks: ``on_frame(data, is_text)`` per message, ``on_lost(code)`` once at the end.
        Returns False when the transport can only be read with ``receive``."""
        ...

    def pause_reading(self) -> None:
        """Stop reading the socket (the connection has too much queued); no-op where reads are pulled."""
        ...

    def resume_reading(self) -> None: ...


class AsgiTransport:
    """Any ASGI server. Heartbeat and drain close codes are then the server's own."""

    __slots__ = ("_closed", "_receive", "_send")
    direct = False

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        self._closed = False

    async def accept(self) -> None:
        message = await self._receive()  # ASGI: "websocket.connect" comes first
        if message["type"] != "websocket.connect":
            raise ConnectionError(f"expected websocket.connect, got {message['type']}")
        await self._send({"type": "websocket.accept"})

    async def receive(self) -> str | bytes | int:
        message = await self._receive()
        kind = message["type"]
        if kind == "websocket.receive":
            text = message.get("text")
            return text if text is not None else bytes(message.get("bytes") or b"")
        return int(message.get("code", 1005))

    def try_write(self, data: bytes) -> bool:
        return False

    async def wait_writable(self) -> None:
        return None

    async def send_frames(self, frames: list[bytes]) -> None:
        send = self._send
        for frame in frames:
            await send({"type": "websocket.send", "text": payload_of(frame).decode()})

    async def close(self, code: int, reason: str) -> None:
        if not self._closed:
            self._closed = True
            await self._send({"type": "websocket.close", "code": code, "reason": reason})

    def on_drain(self, callback: Any) -> None:
        return None

    def on_stall(self, callback: Any) -> None:
        return None

    def detach(self, on_frame: OnFrame, on_lost: OnLost) -> bool:
        return False

    def pause_reading(self) -> None:
        return None  # reads are pulled with ``receive``: not reading is the back-pressure

    def resume_reading(self) -> None:
        return None
