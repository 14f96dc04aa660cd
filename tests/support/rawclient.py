"""A bare RFC 6455 client for what library clients hide: not answering pings, not reading at all."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
from typing import Any

import orjson

from tests.support.asyncapi import check_frame


def _mask(payload: bytes, first: int = 0x81) -> bytes:
    key = os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", first, 0x80 | n)
    elif n < 65536:
        header = struct.pack("!BBH", first, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, n)
    return header + key + masked


class RawClient:
    """Never answers pings and reads only when told to."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, *, rcvbuf: int | None = None, limit: int = 2**16) -> RawClient:
        sock = socket.socket()
        if rcvbuf is not None:  # a small receive window makes the server's buffers fill quickly
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        # A small limit: asyncio stops reading the socket once 2x this is buffered, so "not reading" is real.
        reader, writer = await asyncio.open_connection(sock=sock, limit=limit)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        status = await reader.readuntil(b"\r\n\r\n")
        assert status.startswith(b"HTTP/1.1 101"), status
        return cls(reader, writer)

    async def send(self, frame: dict[str, Any]) -> None:
        await self.send_text(orjson.dumps(frame))

    async def send_text(self, payload: bytes) -> None:
        """A text frame carrying ``payload`` as is, valid UTF-8 or not."""
        self.writer.write(_mask(payload))
        await self.writer.drain()

    async def read_frame(self) -> tuple[int, bytes]:
        """Returns (opcode, payload)."""
        b1, b2 = await self.reader.readexactly(2)
        n = b2 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", await self.reader.readexactly(8))
        return b1 & 0x0F, await self.reader.readexactly(n)

    async def read_json(self) -> dict[str, Any]:
        while True:
            opcode, payload = await self.read_frame()
            if opcode == 0x1:
                frame: dict[str, Any] = orjson.loads(payload)
                check_frame(frame)
                return frame
            if opcode == 0x8:
                raise ConnectionError(f"closed {struct.unpack('!H', payload[:2])[0]}")

    async def read_until_close(self) -> tuple[int, list[dict[str, Any]]]:
        """Everything the server sent, up to its close frame: (close code, text frames)."""
        frames: list[dict[str, Any]] = []
        while True:
            opcode, payload = await self.read_frame()
            if opcode == 0x1:
                frames.append(orjson.loads(payload))
                check_frame(frames[-1])
            elif opcode == 0x8:
                return struct.unpack("!H", payload[:2])[0], frames

    def close(self) -> None:
        self.writer.close()
