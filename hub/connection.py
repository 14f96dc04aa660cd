"""One client connection: handshake, read loop, a single writer task, and closing.

The reader owns the lifecycle; the writer is the only coroutine that writes frames.
Everything else (fan-out, replies, closes requested by other tasks) goes through
:meth:`Connection.push` and :meth:`Connection.request_close`, which never await.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from hub.auth import Principal
from hub.codes import CloseCode, ErrorCode
from hub.errors import CloseConnection, HubError, ProtocolError
from hub.protocol import frames
from hub.protocol.commands import Command, Device, Gps, Hello, Ping
from hub.protocol.session import OPEN, RateDecision, RateLimiter, Session
from hub.protocol.wsframe import text_frame
from hub.sender import Sender
from hub.transport import FrameTransport

if TYPE_CHECKING:
    from hub.hub import Hub

__all__ = ["Connection"]

log = logging.getLogger("hub.connection")
_KNOWN_CLOSE_CODES = frozenset(int(c) for c in CloseCode)
_BACKLOG_PAUSE = 64  # commands queued behind a running one before the socket stops being read


class _Gone(Exception):
    """The peer went away before the handshake ended."""


class Connection:
    """Per-connection state. Subscriptions live in the hub's subscriber map; ``topics`` mirrors them."""

    def __init__(self, hub: Hub, transport: FrameTransport, conn_id: str) -> None:
        self.hub = hub
        self.transport = transport
        self.conn_id = conn_id
        self.log = logging.LoggerAdapter(log, {"conn_id": conn_id})
        cfg = hub.config
        self.session = Session(max_invalid_frames=cfg.max_invalid_frames)
        self.limiter = RateLimiter(cfg.commands_per_s, cfg.abuse_factor)
        self.sender = Sender(
            name=conn_id,
            transport=transport,
            corker=hub.corker,
            tasks=hub.tasks,
            limit=cfg.outbound_queue,
            log=self.log,
            drops=hub.metrics.dropped_frames,
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
    def closing(self) -> bool:
        return self.sender.close_request is not None

    def push(self, payload: bytes) -> None:
        """Send one reply frame (a JSON payload). Fan-out uses ``sender.push`` with prebuilt wire frames."""
        self.sender.push(text_frame(payload))

    def push_error(self, code: ErrorCode, message: str, command_id: Any = None) -> None:
        self.hub.metrics.errors.labels(code.value).inc()
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
            self.hub.metrics.connections_opened.inc()
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
            data = await asyncio.wait_for(self.transport.receive(), self.hub.config.hello_timeout_s)
        except TimeoutError:
            raise CloseConnection(CloseCode.TIMEOUT, "no hello in time") from None
        if isinstance(data, int):
            self.peer_code = data
            raise _Gone
        bad = CloseCode.PROTOCOL_VIOLATION
        if isinstance(data, bytes):
            raise CloseConnection(bad, "first frame must be a JSON hello", error=ErrorCode.BAD_REQUEST)
        try:
            command = frames.decode_command(data, now=time.time())
        except ProtocolError as exc:
            raise CloseConnection(bad, exc.message, error=ErrorCode.BAD_REQUEST, command_id=exc.command_id) from None
        if not isinstance(command, Hello):
            raise CloseConnection(
                bad, "first frame must be a hello", error=ErrorCode.BAD_REQUEST, command_id=command.id
            )
        return command

    async def _open(self, hello: Hello) -> None:
        principal = await self.hub.authenticate(hello.token, hello.id)
        self.principal, self.device = principal, hello.device
        await self.hub.admit(self)
        self.session.transition(OPEN)
        self.push(self.hub.welcome_frame(self, hello.id))
        self.transport.on_drain(self.drain)
        self.hub.register(self)
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
            command = self._accept(data, isinstance(data, str))
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
            command = self._accept(data, text)
            if command is None:
                return
            if type(command) is Ping:  # answered inline: no task for the commonest keep-alive
                self.push(frames.encode({"type": "pong", "id": command.id, "server_time": time.time()}))
                return
            if type(command) is Gps:  # inline too: a ping must not cost a task (issue 5, >= 50k pings/s)
                self._gps_now(command)
                return
            self._backlog = deque()
            self.hub.tasks.spawn(self._work(command), name=f"cmd-{self.conn_id}")
        except CloseConnection as exc:
            self._close_soon(exc)

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
                    next_command = self._accept(data, text)
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
        self.hub.tasks.spawn(self._finish(), name=f"finish-{self.conn_id}")

    def _close_soon(self, exc: CloseConnection) -> None:
        self.log.info("closing %s", exc)
        if exc.error is not None:
            self.push_error(exc.error, exc.message, exc.command_id)
        self.request_close(exc.close_code, exc.reason, flush=True)

    # ---- commands ----

    def _accept(self, data: str | bytes, text: bool) -> Command | None:
        """Decode, count and rate-limit one frame; None when it gets an error instead of a run.

        Raises:
            CloseConnection: 4400 after too many invalid frames, 4429 on sustained abuse.
        """
        now = time.time()
        try:
            if not text:
                raise frames.binary_frame_error()
            command = frames.decode_command(data, now=now)
        except ProtocolError as exc:
            self._count_received("invalid")
            self.push_error(exc.code, exc.message, exc.command_id)
            self.session.invalid_frame()  # protocol.md §2.5: the 21st invalid frame in a row closes 4400
            return None
        self.session.valid_frame()
        self._count_received(_TYPE_LABELS[type(command)])
        if type(command) is not Gps and not self._within_rate(now, command):
            return None
        return command

    async def _run(self, command: Command) -> None:
        try:
            await self.hub.dispatch(self, command)
        except ProtocolError as exc:
            self.push_error(exc.code, exc.message, exc.command_id)
        except CloseConnection:
            raise
        except HubError as exc:
            self.push_error(exc.code, exc.message, getattr(command, "id", None))
        except Exception:
            self.log.exception("command %s failed", type(command).__name__)
            self.push_error(ErrorCode.INTERNAL, "internal error", getattr(command, "id", None))

    def _count_received(self, label: str) -> None:
        received = self.hub.send_stats.received  # folded into hub_frames_received_total each second
        received[label] = received.get(label, 0) + 1

    def _gps_now(self, command: Gps) -> None:
        try:
            self.hub.dispatcher.gps_now(self, command)
        except ProtocolError as exc:
            self.push_error(exc.code, exc.message, exc.command_id)
        except Exception:
            self.log.exception("gps ingest failed")
            self.push_error(ErrorCode.INTERNAL, "internal error", command.id)

    def _within_rate(self, now: float, command: Command) -> bool:
        decision = self.limiter.check(now)  # raises CloseConnection 4429 on sustained abuse
        if decision is RateDecision.ALLOW:
            return True
        self.hub.metrics.dropped_frames.labels("rate_limit").inc()
        if decision is RateDecision.REJECT:
            limit = self.hub.config.commands_per_s
            self.push_error(ErrorCode.RATE_LIMITED, f"over {limit:g} commands per second", command.id)
        return False

    async def _close(self, exc: CloseConnection) -> None:
        self._close_soon(exc)
        await self.sender.wait_closed(self.hub.config.drain_s)

    async def _finish(self) -> None:
        if self.sender.close_request is None:
            self.sender.abandon()  # the peer left: nothing more to write
        else:
            await self.sender.wait_closed(1.0)
        await self.hub.forget(self, self._disconnect_label())

    def _disconnect_label(self) -> str:
        close_request = self.sender.close_request
        if close_request is not None:
            return str(int(close_request[0]))
        if self.peer_code in _KNOWN_CLOSE_CODES:  # 1009 and 4408 are sent by the server protocol itself
            return str(self.peer_code)
        return "client"


def _type_labels() -> dict[type, str]:
    from hub.protocol import commands as c

    return {
        c.Hello: "hello",
        c.Subscribe: "subscribe",
        c.Unsubscribe: "unsubscribe",
        c.Gps: "gps",
        c.Publish: "publish",
        c.Presence: "presence",
        c.Refresh: "refresh",
        c.Ping: "ping",
    }


_TYPE_LABELS = _type_labels()
