"""A lean HTTP/1.1 keep-alive client for the bench's REST load: a few persistent connections, no thread pool.

httpx spends most of a millisecond of CPU per request, so at a few hundred orders per second the
client would share the figure with the server. This speaks just what the hub's JSON API answers:
a status line, headers with ``Content-Length`` (Starlette sets it on every JSON response) and the
body. Requests beyond the number of connections wait, first come first served, for a free one:
the caller measures latency from its own schedule, so that wait counts (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Mapping
from typing import cast

__all__ = ["HttpError", "HttpPool"]

_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
_CHUNKED = re.compile(rb"\r\ntransfer-encoding:[ \t]*chunked", re.IGNORECASE)
_MAX_HEAD = 65536


class HttpError(ConnectionError):
    """The connection failed or the answer was not an HTTP response this client understands."""


class _Conn(asyncio.Protocol):
    """One keep-alive connection, one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.alive = False
        self._buf = b""
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        self.alive = True

    def connection_lost(self, exc: Exception | None) -> None:
        self.alive = False
        self._fail(HttpError(f"connection lost: {exc or 'closed by the server'}"))

    def send(self, request: bytes) -> asyncio.Future[tuple[int, bytes]]:
        waiter: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        if self.transport is None or not self.alive:
            waiter.set_exception(HttpError("connection closed"))
            return waiter
        self._waiter, self._buf = waiter, b""
        self.transport.write(request)
        return waiter

    def data_received(self, data: bytes) -> None:
        self._buf += data
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buf) > _MAX_HEAD:
                self._abort("oversized response head")
            return
        head = self._buf[:end]
        if _CHUNKED.search(head):
            self._abort("chunked responses are not supported")
            return
        match = _LENGTH.search(head)
        length = int(match.group(1)) if match else 0
        if len(self._buf) < end + 4 + length:
            return
        parts = head.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            self._abort(f"not an HTTP response: {head[:80]!r}")
            return
        body, self._buf = self._buf[end + 4 : end + 4 + length], b""
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((int(parts[1]), body))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _abort(self, reason: str) -> None:
        self._fail(HttpError(reason))
        self.close()

    def _fail(self, exc: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)


class HttpPool:
    """``size`` keep-alive connections to ``127.0.0.1:port``; a connection that failed is replaced on next use."""

    def __init__(self, host: str, port: int, size: int) -> None:
        self.host, self.port, self.size = host, port, size
        self._free: deque[_Conn] = deque()
        self._waiting: deque[asyncio.Future[_Conn]] = deque()
        self._all: list[_Conn] = []

    @classmethod
    async def open(cls, host: str, port: int, size: int) -> HttpPool:
        """Every connection made up front, so a measured step pays no TCP handshake."""
        pool = cls(host, port, size)
        for conn in await asyncio.gather(*(pool._connect() for _ in range(size))):
            pool._free.append(conn)
        return pool

    async def _connect(self) -> _Conn:
        _, conn = await asyncio.get_running_loop().create_connection(_Conn, self.host, self.port)
        self._all.append(conn)
        return conn

    async def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """(status, body); ``headers`` are sent as given (e.g. ``X-Forwarded-For``). Raises :class:`HttpError` when
        the connection fails under the request."""
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        auth += "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{auth}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        conn = await self._acquire()
        try:
            if not conn.alive:  # closed by the server while idle (keep-alive timeout): a new one
                if conn in self._all:
                    self._all.remove(conn)
                conn = await self._connect()
            return await conn.send(head.encode() + body)
        finally:
            self._release(conn)

    async def _acquire(self) -> _Conn:
        if self._free:
            return self._free.popleft()
        if len(self._all) < self.size:
            return await self._connect()
        waiter: asyncio.Future[_Conn] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        return await waiter

    def _release(self, conn: _Conn) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():  # a cancelled request no longer wants it
                waiter.set_result(conn)
                return
        self._free.append(conn)

    def close(self) -> None:
        for conn in self._all:
            conn.close()
        self._all, self._free = [], deque()
