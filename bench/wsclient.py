"""The lean receiver: an asyncio Protocol that speaks just enough RFC 6455 to count frames.

A client built on the websockets library tops out near 50k received frames/s on one
core, below what the hub can send, so the figures would measure the client. This
protocol does the HTTP upgrade itself, reads only frame headers (server frames are
unmasked; 126/127 extended lengths), answers pings and closes, counts text frames
and JSON-decodes one frame in ``every`` (systematic sampling, unbiased within a chunk)
to measure publish→receive latency (``data.t``, or ``data.ts`` of a GPS position). It also
speaks Engine.IO v4 / Socket.IO over that websocket (``mode="eio"``) for the python-socketio peer.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import time
from typing import Any, cast

import orjson

from bench.wscounters import NEVER, UNWATCHED, Shared
from bench.wsframe import GUID, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, masked_frame

__all__ = ["WsClient"]


class WsClient(asyncio.Protocol):
    """One socket. ``mode``: ``raw`` (count from the upgrade on), ``ws`` (hub JSON protocol), ``eio`` (Socket.IO)."""

    def __init__(
        self, shared: Shared, *, host: str, port: int, path: str, mode: str, token: str, topic: str | None
    ) -> None:
        self.shared = shared
        self.mode = mode
        self.token = token
        self.topic = topic
        self.count = 0
        self.live = False
        self.alive = False
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.writable = asyncio.Event()
        self.writable.set()
        self.transport: asyncio.Transport | None = None
        self._buf = b""
        self._upgraded = False
        self._key = base64.b64encode(os.urandom(16))
        self._request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {self._key.decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()

    # ---- asyncio callbacks ----

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        self.alive = True
        self.transport.write(self._request)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.alive and self.live:
            self.shared.live -= 1
        self.alive = False
        self.writable.set()
        self._fail(ConnectionError(f"connection lost before ready: {exc}"))

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def data_received(self, data: bytes) -> None:
        if not self._upgraded:
            data = self._upgrade(data)
            if not data:
                return
        if self._buf:
            data = self._buf + data
            self._buf = b""
        shared = self.shared
        n = len(data)
        i = 0
        count = 0
        nxt = shared.countdown
        # Hot path: a whole unfragmented text frame (0x81) on a live socket that is not an Engine.IO ping
        # (length 1). Server frames are unmasked, so the second byte is the length (126: 16-bit follows).
        hot = 0x81 if self.live else -1
        ping_len = 1 if self.mode == "eio" else -1
        now = 0.0
        while i + 2 <= n:
            b1 = data[i]
            ln = data[i + 1]
            if ln < 126:
                h = i + 2
            elif ln == 126:
                if i + 4 > n:
                    break
                ln = (data[i + 2] << 8) | data[i + 3]
                h = i + 4
            elif ln == 127:
                if i + 10 > n:
                    break
                ln = int.from_bytes(data[i + 2 : i + 10], "big")
                h = i + 10
            else:
                self._abort("masked frame from the server")
                return
            end = h + ln
            if end > n:
                break
            i = end
            if b1 == hot and ln != ping_len:
                count += 1
                if count == nxt:
                    now = now or time.time()
                    self._sample(data, h, end, now)
                    nxt += shared.every
            elif not self._slow_frame(b1, data[h:end]):
                return
            else:
                hot = 0x81 if self.live else -1
        if i < n:
            self._buf = data[i:]
        if count:
            self.count += count
            shared.total += count
            shared.last_rx = time.monotonic()
            shared.countdown = nxt - count if nxt != NEVER else NEVER
            if shared.total >= shared.wake_at and shared.woken is not None:
                shared.wake_at = UNWATCHED
                shared.woken.set()

    def _slow_frame(self, b1: int, payload: bytes) -> bool:
        """Everything but a counted event: setup replies, pings, close, fragments. False: the socket is done."""
        op = b1 & 0x0F
        if op == OP_TEXT or op == OP_CONT:
            if not self.live:
                self._setup_frame(payload)
            elif self.mode == "eio" and len(payload) == 1:
                self._eio_control(payload)
            elif b1 & 0x80:  # the last fragment of a fragmented message: one message
                self.count += 1
                self.shared.total += 1
        elif op == OP_PING:
            self._send(payload, OP_PONG)
        elif op == OP_CLOSE:
            self._on_close(payload)
            return False
        return True

    # ---- sending ----

    def _send(self, payload: bytes, opcode: int = OP_TEXT) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(masked_frame(payload, opcode))

    def send_text(self, payload: bytes) -> None:
        self._send(payload)

    def send_many(self, payloads: list[bytes]) -> None:
        """Several text frames in one write (the publisher's batch)."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join([masked_frame(p) for p in payloads]))

    def close(self) -> None:
        """Send a close frame 1000 and drop the socket."""
        if self.transport is not None and not self.transport.is_closing():
            self._send((1000).to_bytes(2, "big"), OP_CLOSE)
            self.transport.close()

    # ---- setup phase (a few frames per connection: decoding them all is fine) ----

    def _upgrade(self, data: bytes) -> bytes:
        self._buf += data
        head, sep, rest = self._buf.partition(b"\r\n\r\n")
        if not sep:
            if len(self._buf) > 16384:
                self._abort("oversized upgrade response")
            return b""
        self._buf = b""
        accept = base64.b64encode(hashlib.sha1(self._key + GUID).digest())
        if not head.startswith(b"HTTP/1.1 101") or accept not in head:
            self._abort(f"upgrade refused: {head[:80]!r}")
            return b""
        self._upgraded = True
        if self.mode == "raw":
            self._go_live()
        elif self.mode == "ws":
            self._send(self._hello())
        return rest

    def _hello(self) -> bytes:
        return orjson.dumps({"type": "hello", "token": self.token})

    def _subscribe(self) -> bytes:
        return orjson.dumps({"type": "subscribe", "id": 1, "topic": self.topic})

    def _subscribed(self, frame: dict[str, Any]) -> None:
        """The ``subscribed`` reply, just before the socket goes live (a subclass keeps its position)."""

    def _setup_frame(self, payload: bytes) -> None:
        if self.mode == "eio":
            self._eio_setup(payload)
            return
        try:
            frame: Any = orjson.loads(payload)
        except orjson.JSONDecodeError:
            self._abort(f"not JSON during setup: {payload[:80]!r}")
            return
        kind = frame.get("type") if isinstance(frame, dict) else None
        if kind == "welcome":
            if self.topic is None:
                self._go_live()
            else:
                self._send(self._subscribe())
        elif kind == "subscribed":
            self._subscribed(frame)
            self._go_live()
        elif kind == "error":
            self._abort(f"server error during setup: {frame}")

    def _eio_setup(self, payload: bytes) -> None:
        """Engine.IO v4 open ``0{…}`` → ``40`` → ``40{sid}`` → hello → welcome → subscribe → subscribed."""
        if payload == b"2":
            self._send(b"3")
        elif payload.startswith(b"0{"):
            self._send(b"40")
        elif payload.startswith(b"40"):
            self._send(b'42["hello",' + orjson.dumps({"type": "hello", "token": self.token}) + b"]")
        elif payload.startswith(b"44"):
            self._abort(f"socket.io connect refused: {payload[:80]!r}")
        elif payload.startswith(b"42"):
            try:
                name = orjson.loads(payload[2:])[0]
            except (orjson.JSONDecodeError, IndexError, TypeError):
                self._abort(f"bad socket.io event: {payload[:80]!r}")
                return
            if name == "welcome" and self.topic is not None:
                body = orjson.dumps({"type": "subscribe", "id": 1, "topic": self.topic})
                self._send(b'42["subscribe",' + body + b"]")
            elif name in ("welcome", "subscribed"):
                self._go_live()

    def _eio_control(self, payload: bytes) -> None:
        if payload == b"2":  # Engine.IO v4: the server pings, the client answers
            self._send(b"3")

    def _go_live(self) -> None:
        self.live = True
        self.shared.live += 1
        if not self.ready.done():
            self.ready.set_result(None)

    # ---- measuring ----

    def _sample(self, data: bytes, start: int, end: int, now: float) -> None:
        shared = self.shared
        try:
            if self.mode == "eio":
                body = orjson.loads(data[start + 2 : end])[1]["data"]
            else:
                body = orjson.loads(data[start:end])["data"]
            sent = body["t"] if "t" in body else body["ts"]  # a publisher's send time, or a GPS ping's
            shared.samples.append(now - float(sent))
            shared.frame_bytes = end - start
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, ValueError):
            shared.sample_errors += 1

    # ---- endings ----

    def _on_close(self, payload: bytes) -> None:
        code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
        self.shared.closed[code] = self.shared.closed.get(code, 0) + 1
        self._send(payload[:2], OP_CLOSE)
        if self.transport is not None:
            self.transport.close()
        self._fail(ConnectionError(f"closed {code} by the server"))

    def _abort(self, reason: str) -> None:
        if self.transport is not None:
            self.transport.close()
        self._fail(ConnectionError(reason))

    def _fail(self, exc: Exception) -> None:
        if not self.ready.done():
            self.ready.set_exception(exc)
            self.ready.exception()  # retrieved: a failed handshake is reported by the opener, not the loop
