"""The ASGI websocket messages of one upgrade, spoken by :class:`~hub.server.protocol.HubWebSocketProtocol`.

Every app behind ``/ws`` and elsewhere sees standard ASGI (``websocket.connect``, ``.accept``,
``.receive``, ``.send``, ``.close``, and the denial response extension). The hub's own endpoint
then switches to the ``fusionx.raw`` extension for its hot path.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from hub.server.handshake import Handshake
from hub.transport import RAW_EXTENSION
from hub.wire.frames import binary_frame, text_frame

__all__ = ["AsgiBridge", "Upgraded"]

log = logging.getLogger("hub.server")


class Upgraded(Protocol):
    """What the bridge needs of the connection it speaks for (the server's asyncio protocol)."""

    transport: asyncio.Transport | None
    loop: asyncio.AbstractEventLoop
    lost: bool

    async def next_message(self) -> bytes | str | int: ...

    def write_accept(self, response: bytes) -> None: ...

    def write_frames(self, data: bytes) -> None: ...

    def write_and_close(self, data: bytes) -> None: ...

    def close(self, code: int, reason: str) -> None: ...


class AsgiBridge:
    def __init__(self, protocol: Upgraded, handshake: Handshake) -> None:
        self._protocol = protocol
        self._handshake: Handshake | None = handshake
        self._connected = False
        self.accepted = False
        self._responded = False
        self._denial: tuple[int, list[tuple[bytes, bytes]], bytearray] | None = None

    def start(self, app: Any, app_state: dict[str, Any], tasks: set[asyncio.Task[None]], root_path: str) -> None:
        protocol = self._protocol
        transport = protocol.transport
        assert transport is not None and self._handshake is not None
        scheme = "wss" if transport.get_extra_info("sslcontext") is not None else "ws"
        scope = self._handshake.scope(
            _address(transport.get_extra_info("sockname")),
            _address(transport.get_extra_info("peername")),
            scheme,
            root_path,
        )
        scope["state"] = app_state.copy()
        scope["extensions"] = {"websocket.http.response": {}, RAW_EXTENSION: {"protocol": protocol}}
        # The task is in uvicorn's set (a strong reference, awaited on shutdown) before it can run.
        task = protocol.loop.create_task(self._run(app, scope))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _run(self, app: Any, scope: dict[str, Any]) -> None:
        try:
            await app(scope, self.receive, self.send)
        except Exception:
            log.exception("websocket application failed")
            if not self.accepted:
                self._refuse(500, b"internal server error\n")
            return
        if not self.accepted and not self._responded:
            log.error("websocket application returned without accepting or refusing")
            self._refuse(500, b"internal server error\n")

    async def receive(self) -> dict[str, Any]:
        if not self._connected:
            self._connected = True
            return {"type": "websocket.connect"}
        message = await self._protocol.next_message()
        if isinstance(message, int):
            return {"type": "websocket.disconnect", "code": message}
        if isinstance(message, str):
            return {"type": "websocket.receive", "text": message}
        return {"type": "websocket.receive", "bytes": message}

    def accept(self, headers: list[tuple[bytes, bytes]] | None = None, subprotocol: str | None = None) -> None:
        if self.accepted or self._responded or self._handshake is None:
            return
        self.accepted = True
        self._protocol.write_accept(self._handshake.accept(headers or (), subprotocol))
        self._handshake = None

    async def send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if self.accepted:
            if kind == "websocket.send":
                text = message.get("text")
                frame = text_frame(text.encode()) if text is not None else binary_frame(message.get("bytes") or b"")
                self._protocol.write_frames(frame)
            elif kind == "websocket.close":
                self._protocol.close(int(message.get("code", 1000)), message.get("reason") or "")
            return
        if self._responded:
            return
        if kind == "websocket.accept":
            self.accept(list(message.get("headers", [])), message.get("subprotocol"))
        elif kind == "websocket.close":
            self._refuse(403, b"")  # ASGI: a close before accept is an HTTP 403
        elif kind == "websocket.http.response.start":
            self._denial = (int(message["status"]), list(message.get("headers", [])), bytearray())
        elif kind == "websocket.http.response.body" and self._denial is not None:
            self._denial[2].extend(message.get("body", b""))
            if not message.get("more_body", False):
                status, headers, body = self._denial
                self._refuse(status, bytes(body), headers)

    def _refuse(self, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        self._responded = True
        handshake = self._handshake or Handshake(b"")
        self._protocol.write_and_close(handshake.refuse(status, body, headers or ()))


def _address(value: Any) -> tuple[str, int] | None:
    if isinstance(value, tuple) and len(value) >= 2:
        return str(value[0]), int(value[1])
    return None
