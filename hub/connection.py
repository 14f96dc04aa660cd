"""One client connection: handshake, frame intake, a single writer, and closing.

The connection talks upward only through :class:`ConnectionHost`, a small Protocol it defines
(authenticate, admit, welcome, opened, inline, run, closed); what every connection of a node
shares comes in one :class:`~hub.connection_kit.ConnectionKit`. It never holds the node itself.

The reader owns the lifecycle; the sender is the only writer. Everything else (fan-out,
replies, closes requested by other tasks) goes through :meth:`Connection.push` and
:meth:`Connection.request_close`, which never await.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from hub.auth import Principal
from hub.codes import CloseCode, ErrorCode
from hub.connection_kit import ConnectionKit, disconnect_labels
from hub.errors import CloseConnection, HubError, ProtocolError
from hub.intake import Intake
from hub.protocol import frames
from hub.protocol.commands import Command, CommandId, Device, Hello
from hub.protocol.session import OPEN
from hub.sender import Sender
from hub.transport import FrameTransport
from hub.wire.frames import text_frame

__all__ = ["Connection", "ConnectionHost"]

log = logging.getLogger("hub.connection")
_BACKLOG_PAUSE = 64  # commands queued behind a running one before the socket stops being read


class _Gone(Exception):
    """The peer went away before the handshake ended."""


class ConnectionHost(Protocol):
    """What a connection asks of the node it belongs to."""

    def admitting(self) -> AbstractAsyncContextManager[None]:
        """Around authenticate and admit: a slot among the hellos at work at once, waited for briefly.

        Raises:
            CloseConnection: 1013 when too many hellos already wait, or no slot came free in time.
        """
        ...

    async def authenticate(self, token: str, command_id: CommandId, credential: str = "token") -> Principal:
        """The principal of a valid token; raises ``CloseConnection`` 4401 otherwise."""
        ...

    async def admit(self, conn: Connection) -> None:
        """Before ``welcome``: caps, device registration. Raises ``CloseConnection`` to refuse."""
        ...

    def welcome(self, conn: Connection, command_id: CommandId) -> bytes: ...

    def opened(self, conn: Connection) -> None:
        """``welcome`` is out: the connection counts."""
        ...

    def inline(self, command: Command) -> Callable[[Principal, Any], bytes | None] | None:
        """A handler to run on the frame callback itself (no task), or None for an async one."""
        ...

    async def run(self, conn: Connection, command: Command) -> None: ...

    async def closed(self, conn: Connection, code: str, by: str) -> None:
        """The connection is over; ``code`` and ``by`` are its ``hub_disconnects_total`` labels."""
        ...


class Connection:
    """Per-connection state. Subscriptions live in the node's registry; ``topics`` mirrors them."""

    def __init__(self, host: ConnectionHost, transport: FrameTransport, conn_id: str, kit: ConnectionKit) -> None:
        self.host = host
        self.transport = transport
        self.conn_id = conn_id
        self.kit = kit
        self.log = logging.LoggerAdapter(log, {"conn_id": conn_id})
        cfg = kit.config
        self.intake = Intake(kit, self.push_error)
        self.sender = Sender(
            name=conn_id,
            transport=transport,
            corker=kit.corker,
            tasks=kit.tasks,
            limit=cfg.outbound_queue,
            log=self.log,
            drops=kit.metrics.dropped_frames,
        )
        self.topics: set[str] = set()
        self.principal: Principal | None = None
        self.device: Device | None = None
        self.opened_at = time.time()
        self.peer_code: int | None = None
        self._backlog: deque[tuple[str | bytes, bool]] | None = None

    @property
    def kind(self) -> str:
        return self.device.kind if self.device is not None else "other"

    @property
    def tracked_device(self) -> Device | None:
        """The device the application keeps a row for (``DeviceTracker``): None for a principal that is not a
        user (``public`` None, e.g. a guest's phone), whose hello may still name a device."""
        if self.principal is None or self.principal.public is None:
            return None
        return self.device

    @property
    def closing(self) -> bool:
        return self.sender.close_request is not None

    def push(self, payload: bytes) -> None:
        """Send one reply frame (a JSON payload). Fan-out uses ``sender.push`` with prebuilt wire frames."""
        self.sender.push(text_frame(payload))

    def push_error(self, code: ErrorCode, message: str, command_id: Any = None) -> None:
        self.kit.metrics.errors.labels(code.value).inc()
        self.push(frames.encode_error(code, message, command_id))

    def request_close(self, code: CloseCode, reason: str, *, flush: bool) -> None:
        self.sender.request_close(code, reason, flush=flush)

    # ---- lifecycle ----

    async def serve(self) -> None:
        """Run the handshake, then either detach (raw transport: frames arrive by callback and this
        coroutine ends, freeing its stack) or read frames until the end (plain ASGI). Never raises."""
        detached = False
        try:
            await self.transport.accept()
            self.kit.metrics.connections_opened.inc()
            hello = await self._receive_hello()
            await self._open(hello)
            detached = self.transport.detach(self._on_frame, self._on_lost)
            if not detached:
                await self._read_loop()
        except _Gone:
            pass
        except CloseConnection as exc:
            await self._close(exc)
        except Exception:
            self.log.exception("connection failed")
            await self._close(CloseConnection(CloseCode.INTERNAL_ERROR, "internal error", error=ErrorCode.INTERNAL))
        finally:
            if not detached:
                await self._finish()

    async def _receive_hello(self) -> Hello:
        try:
            async with asyncio.timeout(self.kit.config.hello_timeout_s):  # no task per socket, unlike wait_for
                data = await self.transport.receive()
        except TimeoutError:
            raise CloseConnection(CloseCode.TIMEOUT, "no hello in time") from None
        if isinstance(data, int):
            self.peer_code = data
            raise _Gone
        return self.intake.hello(data)

    async def _open(self, hello: Hello) -> None:
        async with self.host.admitting():  # raises CloseConnection 1013 when no slot comes free in time
            principal = await self.host.authenticate(hello.token, hello.id, hello.credential)
            self.principal, self.device = principal, hello.device
            await self.host.admit(self)
        self.intake.session.transition(OPEN)
        self.push(self.host.welcome(self, hello.id))
        self.transport.on_drain(self.drain)
        self.transport.on_stall(self.sender.stalled)
        self.host.opened(self)
        self.log.info("connection open user=%s device=%s", principal.user_id, hello.device and hello.device.id)

    def drain(self) -> None:
        """Server shutting down: flush, then close 1001 (protocol.md §3)."""
        self.request_close(CloseCode.GOING_AWAY, "server shutting down", flush=True)

    async def _read_loop(self) -> None:
        """Plain-ASGI path: one command at a time, in order."""
        receive = self.transport.receive
        while True:
            data = await receive()
            if isinstance(data, int):
                self.peer_code = data
                return
            command = self.intake.accept(data, isinstance(data, str))
            if command is not None:
                await self._run(command)

    # ---- detached path: frames arrive by callback from the protocol ----

    def _on_frame(self, data: str | bytes, text: bool) -> None:
        if self.sender.close_request is not None:  # closing: nothing more is processed
            return
        if self._backlog is not None:  # an async command is running: keep order behind it
            self._backlog.append((data, text))
            if len(self._backlog) == _BACKLOG_PAUSE:  # a flood waits in the kernel, not in our memory
                self.transport.pause_reading()
            return
        try:
            command = self.intake.accept(data, text)
            if command is None:
                return
            inline = self.host.inline(command)
            if inline is not None:  # ping, gps: answered on the callback, no task
                self._run_inline(inline, command)
                return
            self._backlog = deque()
            self.kit.tasks.spawn(self._work(command), name=f"cmd-{self.conn_id}")
        except CloseConnection as exc:
            self._close_soon(exc)

    def _run_inline(self, handler: Callable[[Principal, Any], bytes | None], command: Command) -> None:
        assert self.principal is not None
        try:
            reply = handler(self.principal, command)
        except ProtocolError as exc:
            self.push_error(exc.code, exc.message, exc.command_id)
            return
        except Exception:
            self.log.exception("command %s failed", type(command).__name__)
            self.push_error(ErrorCode.INTERNAL, "internal error", command.id)
            return
        if reply is not None:
            self.push(reply)

    async def _work(self, command: Command) -> None:
        """Run ``command`` and everything that queued behind it, then stop (no task while idle)."""
        backlog = self._backlog
        assert backlog is not None
        try:
            while True:
                await self._run(command)
                next_command = None
                while backlog and next_command is None:
                    data, text = backlog.popleft()
                    next_command = self.intake.accept(data, text)
                if len(backlog) < _BACKLOG_PAUSE // 2:
                    self.transport.resume_reading()
                if next_command is None:
                    return
                command = next_command
        except CloseConnection as exc:
            self._close_soon(exc)
        finally:
            self._backlog = None

    def _on_lost(self, code: int) -> None:
        self.peer_code = code
        self.kit.tasks.spawn(self._finish(), name=f"finish-{self.conn_id}")

    def _close_soon(self, exc: CloseConnection) -> None:
        self.log.info("closing %s", exc)
        if exc.error is not None:
            self.push_error(exc.error, exc.message, exc.command_id)
        self.request_close(exc.close_code, exc.reason, flush=True)

    # ---- commands ----

    async def _run(self, command: Command) -> None:
        try:
            await self.host.run(self, command)
        except ProtocolError as exc:
            self.push_error(exc.code, exc.message, exc.command_id)
        except CloseConnection:
            raise
        except HubError as exc:
            self.push_error(exc.code, exc.message, command.id)
        except Exception:
            self.log.exception("command %s failed", type(command).__name__)
            self.push_error(ErrorCode.INTERNAL, "internal error", command.id)

    async def _close(self, exc: CloseConnection) -> None:
        self._close_soon(exc)
        await self.sender.wait_closed(self.kit.config.drain_s)

    async def _finish(self) -> None:
        if self.sender.close_request is None:
            self.sender.abandon()  # the peer left: nothing more to write
        else:
            await self.sender.wait_closed(1.0)
        await self.host.closed(self, *disconnect_labels(self.sender.close_request, self.peer_code))
