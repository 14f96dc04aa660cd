"""The hub's fast path to a socket: pre-framed bytes straight out, frames in by callback after ``hello``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hub.transport import OnFrame, OnLost

if TYPE_CHECKING:
    from hub.server.protocol import HubWebSocketProtocol

__all__ = ["RawTransport"]


class RawTransport:
    """:class:`~hub.transport.FrameTransport` over :class:`~hub.server.protocol.HubWebSocketProtocol`."""

    __slots__ = ("_proto",)

    direct = True

    def __init__(self, protocol: HubWebSocketProtocol) -> None:
        self._proto = protocol

    async def accept(self) -> None:
        bridge = self._proto.asgi
        assert bridge is not None
        await bridge.receive()  # ASGI's websocket.connect, consumed so later receives are frames
        bridge.accept()

    async def receive(self) -> str | bytes | int:
        return await self._proto.next_message()

    def try_write(self, data: bytes) -> bool:
        return self._proto.try_write(data)

    async def wait_writable(self) -> None:
        await self._proto.wait_writable()

    async def send_frames(self, frames: list[bytes]) -> None:
        self._proto.write_frames(frames[0] if len(frames) == 1 else b"".join(frames))

    async def close(self, code: int, reason: str) -> None:
        """The close frame goes behind what is buffered, without waiting for a slow reader to take it."""
        self._proto.close(code, reason)

    def on_drain(self, callback: Any) -> None:
        self._proto.drain_callback = callback

    def on_stall(self, callback: Any) -> None:
        self._proto.stall_callback = callback

    def detach(self, on_frame: OnFrame, on_lost: OnLost) -> bool:
        self._proto.detach(on_frame, on_lost)
        return True

    def pause_reading(self) -> None:
        self._proto.pause_reading()

    def resume_reading(self) -> None:
        self._proto.resume_reading()
